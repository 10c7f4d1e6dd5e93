"""The functions connector's config (services/functions, format in
services/functions/config.py): from the spec's function triggers, the topics' ARNs and the
queues' URLs, where the connector listens and the files it reads. Pure; the tests parse the
output with the connector's own parser (`services.functions.config.parse`).

- every sns trigger: a route `/sns/<topic>/<function>` (the SNS subscription's endpoint path:
  one subscription per function, so each is retried on its own);
- every sqs trigger: a queue poller;
- every cron trigger (all of them, not only a function's first): a schedule in its time zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from stacks.spec import Function

PORT = 9920


@dataclass(frozen=True)
class ConnectorFiles:
    """Where the connector's files are on the functions host."""
    config: str = "/etc/mammatus/functions/connector.json"
    gateway_password: str = "/etc/mammatus/functions/gateway-password"
    credentials: str = "/etc/mammatus/functions/credentials"
    ca_root: str = "/etc/mammatus/functions/ca-root.pem"
    tls_cert: str = "/etc/mammatus/functions/tls.crt"
    tls_key: str = "/etc/mammatus/functions/tls.key"


FILES = ConnectorFiles()


def sns_path(topic: str, function: str) -> str:
    return f"/sns/{topic}/{function}"


def sns_triggers(functions: Sequence[Function]) -> list[tuple[str, str]]:
    """(topic, function) of every sns trigger, sorted (stable resource order)."""
    return sorted({(t.topic, f.name) for f in functions for t in f.triggers if t.kind == "sns"})


def sqs_triggers(functions: Sequence[Function]) -> list[tuple[str, str]]:
    return sorted({(t.queue, f.name) for f in functions for t in f.triggers if t.kind == "sqs"})


def _invoke(functions: Sequence[Function], kind: str, name: str, function: str) -> str:
    fn = next(f for f in functions if f.name == function)
    return next(t.invoke for t in fn.triggers
                if t.kind == kind and (t.topic if kind == "sns" else t.queue) == name)


def render_config(functions: Sequence[Function], *, listen: str, gateway_url: str,
                  topic_arns: Mapping[str, str], queue_urls: Mapping[str, str],
                  sns_endpoint: Optional[str] = None, signing_name: Optional[str] = None,
                  files: ConnectorFiles = FILES, ca_file: Optional[str] = None,
                  tls: bool = False, region: str = "us-east-1") -> str:
    """The config as JSON. `ca_file`: the cloud's root (https SNS/SQS, SNS's signing
    certificate) when the cloud has a CA; `tls`: the connector serves HTTPS with files.tls_*."""
    config: dict[str, Any] = {
        "listen": listen,
        "gateway": {"url": gateway_url, "username": "admin",
                    "password_file": files.gateway_password},
    }
    if ca_file:
        config["ca_file"] = ca_file
    if tls:
        config["tls"] = {"cert_file": files.tls_cert, "key_file": files.tls_key}
    sns = sns_triggers(functions)
    if sns:
        config["sns"] = {"endpoint": sns_endpoint, "routes": [
            {"path": sns_path(topic, fn), "topic_arn": topic_arns[topic], "function": fn,
             "invoke": _invoke(functions, "sns", topic, fn)} for topic, fn in sns]}
        if signing_name and ca_file:
            config["sns"]["signing_name"] = signing_name
    sqs = sqs_triggers(functions)
    if sqs:
        config["aws"] = {"credentials_file": files.credentials, "profile": "default",
                         "region": region}
        config["sqs"] = {"routes": [
            {"queue": queue, "queue_url": queue_urls[queue], "function": fn,
             "invoke": _invoke(functions, "sqs", queue, fn), "wait_seconds": 20,
             "max_messages": 1} for queue, fn in sqs]}
    config["cron"] = [{"function": f.name, "schedule": t.schedule, "timezone": t.timezone,
                       "invoke": t.invoke}
                      for f in functions for t in f.triggers if t.kind == "cron"]
    return json.dumps(config, indent=2, sort_keys=True) + "\n"
