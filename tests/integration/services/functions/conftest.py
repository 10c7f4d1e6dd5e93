"""The functions connector end to end: the REAL SNS and SQS services on a real NATS
(the fixtures of tests/integration/services/sns and sqs), the connector as its own process,
and a stand-in for the OpenFaaS gateway's invoke API (gateway_standin.py: faasd cannot run
here)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.sns.signing import Signer
from tests.integration.services.sns.conftest import sns_service, test_ca  # noqa: F401
from tests.integration.services.sqs.conftest import nats_server, sqs_service  # noqa: F401
from tests.integration.services.sqs.procs import ACCESS_KEY, SECRET_KEY, client
from tests.support.daemons import LoopbackDaemon, wait_for
from tests.support.paths import ROOT
from .gateway_standin import GatewayStandIn

PASSWORD = "gateway-admin-" + uuid.uuid4().hex
CRON_ZONE = "Asia/Kathmandu"   # UTC+05:45: an hour field read in UTC would never match
MAX_RECEIVES = 2


def secret_file(path: Path, text: str) -> str:
    """0600 from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


class Connector(LoopbackDaemon):
    """`python -m services.functions --config FILE` from this checkout."""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory
        self.config_path = directory / "connector.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "services.functions", "--config", str(self.config_path),
                "--log-level", "INFO"]

    def log_file(self) -> str:
        return str(self.directory / "connector.log")

    def popen_kwargs(self) -> dict:
        return {"cwd": ROOT, "env": dict(os.environ, PYTHONPATH=str(ROOT))}


@dataclass
class World:
    gateway: GatewayStandIn
    connector: Connector
    sns: object
    sqs: object
    sns_endpoint: str
    signing_cert_url: str     # where SNS serves its real signing certificate
    topic_arn: str
    subscription_arn: str
    queue_url: str
    flaky_url: str
    dlq_url: str
    cron_tick: dt.datetime
    cron_schedule: str


def _queue(sqs, name, **attributes):
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


@pytest.fixture(scope="module")
def world(sns_service, sqs_service, test_ca, tmp_path_factory):  # noqa: F811
    d = tmp_path_factory.mktemp("functions")
    tag = uuid.uuid4().hex[:8]
    sns, sqs = client("sns", sns_service.endpoint), client("sqs", sqs_service.endpoint)
    topic_arn = sns.create_topic(Name=f"orders-{tag}")["TopicArn"]
    queue_url, _ = _queue(sqs, f"jobs-{tag}")
    dlq_url, dlq_arn = _queue(sqs, f"jobs-dlq-{tag}")
    flaky_url, _ = _queue(sqs, f"flaky-{tag}", VisibilityTimeout=1, RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}))

    gateway = GatewayStandIn(PASSWORD, ["on-order", "thumbnail", "flaky", "report"]).start()
    gateway.statuses["flaky"] = 500

    # A tick a few seconds ahead, as a wall time in CRON_ZONE (seconds first: the connector's
    # six-field form), so the test waits seconds, not a minute.
    tick = dt.datetime.fromtimestamp(int(time.time()) + 8, dt.timezone.utc)
    local = tick.astimezone(ZoneInfo(CRON_ZONE))
    schedule = f"{local.second} {local.minute} {local.hour} * * *"

    connector = Connector(d)
    path = f"/sns/orders-{tag}/on-order"
    config = {
        "listen": f"127.0.0.1:{connector.port}",
        "ca_file": str(test_ca / "ca.pem"),
        "gateway": {"url": gateway.url, "username": "admin",
                    "password_file": secret_file(d / "gateway-password", PASSWORD + "\n")},
        "aws": {"credentials_file": secret_file(
            d / "credentials", f"[default]\naws_access_key_id = {ACCESS_KEY}\n"
                               f"aws_secret_access_key = {SECRET_KEY}\n")},
        "sns": {"endpoint": sns_service.endpoint, "signing_name": "sns.mammatus.test",
                "routes": [{"path": path, "topic_arn": topic_arn, "function": "on-order"}]},
        "sqs": {"routes": [{"queue": f"jobs-{tag}", "queue_url": queue_url, "function": "thumbnail"},
                           {"queue": f"flaky-{tag}", "queue_url": flaky_url, "function": "flaky"}]},
        "cron": [{"function": "report", "schedule": schedule, "timezone": CRON_ZONE,
                  "invoke": "async"}],
    }
    connector.config_path.write_text(json.dumps(config))
    connector.start()

    # An ordinary http subscription: SNS sends the connector a confirmation, which it confirms.
    sub = sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=connector.url + path,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    wait_for(lambda: sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
             ["PendingConfirmation"] == "false", "the connector confirming its subscription",
             attempts=150, log=connector.log_file())
    real = Signer.from_files(str(test_ca / "sns.pem"), str(test_ca / "sns.key"))
    yield World(gateway, connector, sns, sqs, sns_service.endpoint,
                f"{sns_service.endpoint}/{real.cert_name}", topic_arn, sub, queue_url, flaky_url, dlq_url,
                tick, schedule)
    connector.stop()
    gateway.stop()
