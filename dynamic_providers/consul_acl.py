"""A Consul agent's ACL token, made over Consul's HTTP API (HTTPS, the cloud's root trusted)
from the machine running Pulumi, as InfluxDB's users are (dynamic_providers/influxdb.py).

The token's SecretID is Mammatus' own (a secret generated in the stack, and already in the
agent's 0600 secrets file as `acl.tokens.agent`), so the agent holds it before the token exists
and uses it as soon as it does. It is granted the agent's node identity (its node's
registration, reading services). Requests authenticate with the servers' initial management
token in the X-Consul-Token header, never in a URL.

A fresh cluster answers "No cluster leader" or "ACL not found" until it has elected a leader and
that leader has made the management token: both are waited out (PATIENCE). `read` asks
/v1/acl/token/self with the token itself, so a token deleted by hand is seen and made again."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional, Sequence

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, UpdateResult

from dynamic_providers import https
from dynamic_providers.base import MammatusProvider

PATIENCE = 120.0   # seconds for a fresh cluster to elect a leader and bootstrap its ACLs
# Answers of a cluster that is not ready yet (as opposed to a refusal).
NOT_READY = ("No cluster leader", "ACL not found", "ACL system must be bootstrapped",
             "ACL support disabled", "rpc error making call")


class ConsulAclError(RuntimeError):
    pass


def request(url: str, method: str, path: str, token: str, body: Optional[dict] = None
            ) -> dict[str, Any]:
    """One call of the ACL API as data (tests look at it): the token in its header only."""
    headers = {"X-Consul-Token": token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {"method": method, "url": f"{url.rstrip('/')}{path}", "headers": headers,
            "body": None if body is None else json.dumps(body, sort_keys=True)}


def token_body(props: dict[str, Any]) -> dict[str, Any]:
    body = {"SecretID": props["secret_id"], "Description": props["description"],
            "NodeIdentities": [{"NodeName": props["node_name"], "Datacenter": props["datacenter"]}],
            "Local": False}
    # An instance's services: each identity lets it register that one service (and read all).
    services = props.get("services") or []
    if services:
        body["ServiceIdentities"] = [{"ServiceName": s} for s in services]
    return body


def http(call: dict[str, Any], ca_pem: str) -> tuple[int, str]:
    data = call["body"].encode() if call["body"] is not None else None
    return https.send(call["method"], call["url"], call["headers"], data, ca_pem)


def not_ready(status: int, body: str) -> bool:
    return status >= 500 or (status == 403 and any(s in body for s in NOT_READY))


def call_when_ready(call: dict[str, Any], ca_pem: str, patience: Optional[float] = None,
                    sleep: Callable[[float], None] = time.sleep,
                    send: Callable[[dict, str], tuple[int, str]] = http) -> tuple[int, str]:
    """`call`, again while the cluster is not ready (or not answering yet) for up to
    `patience` seconds; a certificate Consul's does not match is never retried."""
    import ssl
    import urllib.error

    patience = PATIENCE if patience is None else patience
    deadline, last = time.monotonic() + patience, ""
    while True:
        try:
            status, body = send(call, ca_pem)
            if not not_ready(status, body):
                return status, body
            last = f"{status} {body.strip()[:200]}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            if isinstance(err, urllib.error.URLError) and isinstance(
                    err.reason, ssl.SSLCertVerificationError):
                raise
            last = str(err)
        if time.monotonic() >= deadline:
            raise ConsulAclError(f"Consul at {call['url']} was not ready within {patience:.0f} s: {last}")
        sleep(1.0)


def check_token(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    props = {k: news.get(k) or "" for k in ("url", "ca_pem", "management_token", "secret_id",
                                              "node_name", "datacenter", "description")}
    props["services"] = sorted(news.get("services") or [])
    failures = [CheckFailure(k, f"{k} is required") for k in
                ("url", "management_token", "secret_id", "node_name", "datacenter") if not props[k]]
    if props["url"] and not props["url"].startswith("https://"):
        failures.append(CheckFailure("url", "Consul's API is HTTPS only"))
    return props, failures


class ConsulAclTokenProvider(MammatusProvider):
    # A new SecretID, or another cluster, is another token.
    immutable = ("secret_id", "url", "datacenter")
    outputs = ("accessor_id",)

    def check(self, _olds, news):
        props, failures = check_token(news)
        return CheckResult(props, failures)

    @staticmethod
    def _ready(props: dict) -> None:
        """Until the cluster has a leader and knows the management token."""
        status, body = call_when_ready(request(props["url"], "GET", "/v1/acl/token/self",
                                               props["management_token"]), props["ca_pem"])
        if status != 200:
            raise ConsulAclError(f"Consul refused the management token: {status} {body[:200]}")

    @staticmethod
    def _send(props: dict, method: str, path: str, body: Optional[dict] = None,
              token: Optional[str] = None) -> tuple[int, str]:
        return http(request(props["url"], method, path, token or props["management_token"],
                            body), props["ca_pem"])

    def _self(self, props: dict) -> Optional[dict]:
        """The token as Consul has it (asked with the token itself), None if it has none."""
        status, body = self._send(props, "GET", "/v1/acl/token/self", token=props["secret_id"])
        if status == 200:
            return json.loads(body)
        if status == 403 and "ACL not found" in body:
            return None
        raise ConsulAclError(f"Consul answered {status} reading the token: {body[:200]}")

    def _apply(self, props: dict) -> str:
        """Makes the token, or sets it as it should be if Consul has it (a lost state, an
        update); its AccessorID."""
        self._ready(props)
        existing = self._self(props)
        body = token_body(props)
        path = "/v1/acl/token"
        if existing:
            body["AccessorID"] = existing["AccessorID"]
            path += f"/{existing['AccessorID']}"
        status, text = self._send(props, "PUT", path, body)
        if status != 200:
            raise ConsulAclError(f"Consul refused the token of {props['node_name']}: {status} {text[:200]}")
        return json.loads(text)["AccessorID"]

    def create(self, props):
        accessor = self._apply(props)
        return CreateResult(accessor, {**props, "accessor_id": accessor})

    def update(self, _id, olds, news):
        return UpdateResult({**news, "accessor_id": self._apply(news)})

    def read(self, id_, props):
        self._ready(props)
        existing = self._self(props)
        if existing is None:
            return ReadResult(None, {})   # deleted by hand: the next `up` makes it again
        identities = existing.get("NodeIdentities") or [{}]
        seen = {**props, "accessor_id": existing["AccessorID"],
                "description": existing.get("Description", ""),
                "node_name": identities[0].get("NodeName", ""),
                "datacenter": identities[0].get("Datacenter", ""),
                "services": sorted(s.get("ServiceName", "") for s in
                                   existing.get("ServiceIdentities") or [])}
        return ReadResult(existing["AccessorID"], seen, {k: v for k, v in seen.items()
                                                          if k != "accessor_id"})

    def delete(self, _id, props):
        self._ready(props)
        status, text = self._send(props, "DELETE", f"/v1/acl/token/{props.get('accessor_id') or _id}")
        if status != 200 and "not found" not in text.lower():
            raise ConsulAclError(f"Consul refused to delete the token: {status} {text[:200]}")


class ConsulAclToken(pulumi.dynamic.Resource, module="mammatus", name="ConsulAclToken"):
    accessor_id: pulumi.Output[str]

    def __init__(self, name: str, url: pulumi.Input[str], ca_pem: pulumi.Input[str],
                 management_token: pulumi.Input[str], secret_id: pulumi.Input[str],
                 node_name: str, datacenter: str, description: str = "",
                 services: Sequence[str] = (), opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(ConsulAclTokenProvider(), name, {
            "url": url, "ca_pem": ca_pem,
            "management_token": pulumi.Output.secret(management_token),
            "secret_id": pulumi.Output.secret(secret_id), "node_name": node_name,
            "datacenter": datacenter,
            "description": description or f"agent token of {node_name} (Mammatus)",
            "services": sorted(services), "accessor_id": None}, opts)


ANONYMOUS_ACCESSOR = "00000000-0000-0000-0000-000000000002"   # Consul's built-in anonymous token


def policy_body(props: dict[str, Any]) -> dict[str, Any]:
    return {"Name": props["name"], "Description": props["description"], "Rules": props["rules"]}


def anonymous_body(anonymous: dict[str, Any], policy: str, attach: bool) -> dict[str, Any]:
    """The anonymous token as Consul has it, with `policy` linked (attach) or not; everything
    else it holds (an operator's own policies) kept."""
    links = [p for p in anonymous.get("Policies") or [] if p.get("Name") != policy]
    if attach:
        links.append({"Name": policy})
    return {"AccessorID": ANONYMOUS_ACCESSOR, "Description": anonymous.get("Description", ""),
            "Policies": links}


class ConsulAnonymousPolicyProvider(MammatusProvider):
    """A policy (`name`, HCL `rules`) that Consul's anonymous token holds: what a request with
    no token (Consul DNS from the LAN) may read. Delete unlinks it, then deletes it."""
    immutable = ("url", "name")
    outputs = ("policy_id",)

    def check(self, _olds, news):
        props = {k: news.get(k) or "" for k in ("url", "ca_pem", "management_token", "name",
                                                  "rules", "description")}
        failures = [CheckFailure(k, f"{k} is required") for k in
                    ("url", "management_token", "name", "rules") if not props[k]]
        if props["url"] and not props["url"].startswith("https://"):
            failures.append(CheckFailure("url", "Consul's API is HTTPS only"))
        return CheckResult(props, failures)

    _send = staticmethod(ConsulAclTokenProvider._send)
    _ready = staticmethod(ConsulAclTokenProvider._ready)

    def _policy(self, props: dict) -> Optional[dict]:
        status, body = self._send(props, "GET", f"/v1/acl/policy/name/{props['name']}")
        if status == 200:
            return json.loads(body)
        if status in (403, 404) and "not found" in body.lower():
            return None
        raise ConsulAclError(f"Consul answered {status} reading the policy: {body[:200]}")

    def _link(self, props: dict, attach: bool) -> None:
        status, body = self._send(props, "GET", f"/v1/acl/token/{ANONYMOUS_ACCESSOR}")
        if status != 200:
            raise ConsulAclError(f"Consul answered {status} reading the anonymous token: {body[:200]}")
        status, body = self._send(props, "PUT", f"/v1/acl/token/{ANONYMOUS_ACCESSOR}",
                                  anonymous_body(json.loads(body), props["name"], attach))
        if status != 200:
            raise ConsulAclError(f"Consul refused to update the anonymous token: {status} {body[:200]}")

    def _apply(self, props: dict) -> str:
        self._ready(props)
        existing = self._policy(props)
        path = f"/v1/acl/policy/{existing['ID']}" if existing else "/v1/acl/policy"
        status, body = self._send(props, "PUT", path, policy_body(props))
        if status != 200:
            raise ConsulAclError(f"Consul refused the policy {props['name']}: {status} {body[:200]}")
        self._link(props, attach=True)
        return json.loads(body)["ID"]

    def create(self, props):
        policy_id = self._apply(props)
        return CreateResult(policy_id, {**props, "policy_id": policy_id})

    def update(self, _id, olds, news):
        return UpdateResult({**news, "policy_id": self._apply(news)})

    def read(self, id_, props):
        self._ready(props)
        existing = self._policy(props)
        status, body = self._send(props, "GET", f"/v1/acl/token/{ANONYMOUS_ACCESSOR}")
        linked = status == 200 and any(p.get("Name") == props["name"]
                                       for p in json.loads(body).get("Policies") or [])
        if existing is None:
            return ReadResult(None, {})
        # Unlinked by hand reads as other rules, so the next `up` links it again.
        seen = {**props, "policy_id": existing["ID"],
                "rules": existing.get("Rules", "") if linked else "",
                "description": existing.get("Description", "")}
        return ReadResult(existing["ID"], seen, {k: v for k, v in seen.items() if k != "policy_id"})

    def delete(self, _id, props):
        self._ready(props)
        self._link(props, attach=False)
        status, text = self._send(props, "DELETE", f"/v1/acl/policy/{props.get('policy_id') or _id}")
        if status != 200 and "not found" not in text.lower():
            raise ConsulAclError(f"Consul refused to delete the policy: {status} {text[:200]}")


class ConsulAnonymousPolicy(pulumi.dynamic.Resource, module="mammatus", name="ConsulAnonymousPolicy"):
    policy_id: pulumi.Output[str]

    def __init__(self, name: str, url: pulumi.Input[str], ca_pem: pulumi.Input[str],
                 management_token: pulumi.Input[str], policy_name: str, rules: str,
                 description: str = "", opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(ConsulAnonymousPolicyProvider(), name, {
            "url": url, "ca_pem": ca_pem,
            "management_token": pulumi.Output.secret(management_token), "name": policy_name,
            "rules": rules, "description": description or "what a request without a token may "
                                                           "read (Mammatus)",
            "policy_id": None}, opts)
