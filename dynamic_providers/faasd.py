"""Functions on faasd through the OpenFaaS gateway's REST API.

Seed design: faasd for functions as a service (on demand, cron, SNS, SQS triggers). A
`FaasdFunction` is one deployed function:
- POST /system/functions (deploy), PUT /system/functions (update), DELETE /system/functions
  ({"functionName"}), GET /system/function/{name} (read), all with HTTP basic auth (the gateway's
  admin user and the password faasd generates in /var/lib/faasd/secrets/basic-auth-password).
- A cron trigger can be OpenFaaS cron-connector's contract (annotations `topic: cron-function`
  and `schedule: <cron expression>`, `schedule=`); the Functions component sets none: its own
  connector (services/functions) runs every schedule, as it runs the SNS and SQS triggers,
  which are not gateway objects either.

Not runnable here: faasd needs containerd, CNI and container images from a registry, none of
which exist on this machine. The REST contract (paths, methods, bodies, status codes, basic
auth, the gateway's validation) is tested against a fake gateway in the tests that implements the
same endpoints; that is a contract test, not a test against faasd.

Pure builders (`deployment_body`, `delete_body`, `function_url`, `cron_annotations`) and the
parser (`parse_status`) are apart from the HTTP calls (urllib, per call). check and diff never
connect.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.preview import known_failures
from dynamic_providers.base import MammatusProvider



NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # the gateway's own rule (DNS-1123 label)
CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")


# ---------------------------------------------------------------- pure builders and parser

def cron_annotations(schedule: str) -> dict[str, str]:
    """The cron-connector's contract: it invokes functions with these annotations."""
    fields = schedule.split()
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        raise ValueError(f"a cron schedule has five fields like '0 3 * * *', got {schedule!r}")
    return {"topic": "cron-function", "schedule": schedule}


def deployment_body(props: dict) -> dict:
    """The gateway's FunctionDeployment JSON (POST and PUT /system/functions)."""
    body: dict[str, Any] = {
        "service": props["name"],
        "image": props["image"],
        "envVars": dict(props.get("env") or {}),
        "labels": dict(props.get("labels") or {}),
        "annotations": dict(props.get("annotations") or {}),
        "secrets": list(props.get("secrets") or []),
    }
    if props.get("env_process"):
        body["envProcess"] = props["env_process"]
    if props.get("memory_limit"):
        body["limits"] = {"memory": props["memory_limit"]}
    if props.get("namespace"):
        body["namespace"] = props["namespace"]
    return body


def delete_body(name: str) -> dict:
    return {"functionName": name}


def function_url(gateway: str, name: str) -> str:
    """Where the function is invoked (what the functions connector calls)."""
    return f"{gateway.rstrip('/')}/function/{name}"


def parse_status(status: dict) -> dict:
    """GET /system/function/{name}'s FunctionStatus -> what the resource records."""
    return {
        "name": status["name"],
        "image": status.get("image"),
        "env_process": status.get("envProcess") or None,
        "labels": dict(status.get("labels") or {}),
        "annotations": dict(status.get("annotations") or {}),
        "env": dict(status.get("envVars") or {}),
        "replicas": int(status.get("replicas") or 0),
        "available_replicas": int(status.get("availableReplicas") or 0),
        "invocations": int(status.get("invocationCount") or 0),
    }


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request_args(connection: dict, method: str, path: str, body: Optional[dict] = None) -> dict:
    """Method, URL, headers and data of one gateway call (pure; `call` sends it)."""
    headers = {"Authorization": basic_auth(connection.get("username", "admin"), connection["password"])}
    data = None
    if body is not None:
        data = json.dumps(body, sort_keys=True).encode()
        headers["Content-Type"] = "application/json"
    return {"method": method, "url": connection["gateway"].rstrip("/") + path, "headers": headers,
            "data": data}


# ---------------------------------------------------------------- check and diff

def check_function(news: dict) -> tuple[dict, list]:
    inputs = dict(news)
    failures: list = []
    if not NAME.match(str(news.get("name", ""))):
        failures.append(CheckFailure("name", f"must be a DNS-1123 label, got {news.get('name')!r}"))
    if not news.get("image"):
        failures.append(CheckFailure("image", "a function needs an image"))
    annotations = dict(news.get("annotations") or {})
    if news.get("schedule"):
        try:
            annotations.update(cron_annotations(news["schedule"]))
        except ValueError as exc:
            failures.append(CheckFailure("schedule", str(exc)))
    inputs["annotations"] = annotations
    conn = news.get("connection")
    if not isinstance(conn, dict) or not str(conn.get("gateway", "")).startswith(("http://", "https://")):
        failures.append(CheckFailure("connection", "must be {gateway: http(s)://…, username, password}"))
    return inputs, failures


IMMUTABLE = ("name", "namespace")
OUTPUTS = ("url", "replicas", "available_replicas")


# ---------------------------------------------------------------- transport

class GatewayError(RuntimeError):
    def __init__(self, status: int, message: str):
        super().__init__(f"OpenFaaS gateway answered {status}: {message}")
        self.status = status


def call(connection: dict, method: str, path: str, body: Optional[dict] = None) -> tuple[int, str]:
    args = request_args(connection, method, path, body)
    request = urllib.request.Request(args["url"], data=args["data"], headers=args["headers"],
                                     method=args["method"])
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        raise GatewayError(exc.code, exc.read().decode().strip()) from None


# ---------------------------------------------------------------- provider

class FunctionProvider(MammatusProvider):
    immutable = (*IMMUTABLE, "connection")
    outputs = OUTPUTS
    target = ("gateway",)
    connection_updates = False

    def check(self, _olds, news):
        inputs, failures = check_function(news)
        return CheckResult(inputs, known_failures(news, failures))

    def _outs(self, props: dict) -> dict:
        return {**props, "url": function_url(props["connection"]["gateway"], props["name"])}

    def create(self, props):
        call(props["connection"], "POST", "/system/functions", deployment_body(props))
        return CreateResult(id_=props["name"], outs=self._outs(props))

    def update(self, _id, _olds, news):
        call(news["connection"], "PUT", "/system/functions", deployment_body(news))
        return UpdateResult(outs=self._outs(news))

    def read(self, id_, props):
        try:
            _, text = call(props["connection"], "GET", f"/system/function/{id_}")
        except GatewayError as exc:
            if exc.status == 404:
                return ReadResult(None, {})
            raise
        found = parse_status(json.loads(text))
        state = {**self._outs({**props, "name": id_}), "image": found["image"],
                 "annotations": found["annotations"], "labels": found["labels"],
                 "replicas": found["replicas"], "available_replicas": found["available_replicas"]}
        if found["env"]:
            state["env"] = found["env"]
        inputs = {k: v for k, v in state.items() if k not in OUTPUTS}
        return ReadResult(id_, state, inputs)

    def delete(self, id_, props):
        try:
            call(props["connection"], "DELETE", "/system/functions", delete_body(id_))
        except GatewayError as exc:
            if exc.status != 404:
                raise


class FaasdFunction(pulumi.dynamic.Resource, module="mammatus", name="FaasdFunction"):
    """A function deployed on faasd (image, env, labels, annotations, optional cron schedule)."""
    name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, resource_name: str, name: str, image: str, connection: pulumi.Input[dict],
                 env: Optional[dict] = None, labels: Optional[dict] = None,
                 annotations: Optional[dict] = None, schedule: Optional[str] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(FunctionProvider(), resource_name,
                         {"name": name, "image": image, "env": env or {}, "labels": labels or {},
                          "annotations": annotations or {}, "schedule": schedule,
                          "connection": connection, "url": None, "replicas": None,
                          "available_replicas": None},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                             additional_secret_outputs=["connection"])))
