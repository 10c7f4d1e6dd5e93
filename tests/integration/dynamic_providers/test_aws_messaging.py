"""The SQS queue provider against the cloud's real SQS service (services/sqs) on a real NATS
JetStream, both started the way the Queues/Nats components start them: nats-server with the
rendered config (components/render/nats.py), `python -m services.sqs --listen … --nats …
--credentials FILE` with the rendered credentials file. On loopback.

SNS topics/subscriptions are not exercised here: services/sns is being written concurrently.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dill
import pytest

from components.messaging import credentials_ini
from components.render import nats
from dynamic_providers.aws_messaging import QueueProvider, queue_arn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
NATS = str(ROOT / ".venv" / "bin" / "nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(200):
        assert proc.poll() is None, log.read_text()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listening on {port}: {log.read_text()}")


@pytest.fixture(scope="module")
def sqs(tmp_path_factory):
    d = tmp_path_factory.mktemp("messaging")
    nats_port, sqs_port = free_port(), free_port()
    (d / "nats.conf").write_text(nats.render(server_name="mammatus-test", port=nats_port,
                                             monitor_port=None, store_dir=str(d / "js")))
    secret = secrets.token_hex(20)
    (d / "credentials").write_text(credentials_ini("mammatus-sqs", secret))
    procs = []
    try:
        nats_log = d / "nats.log"
        procs.append(subprocess.Popen([NATS, "-c", str(d / "nats.conf")],
                                      stdout=open(nats_log, "w"), stderr=subprocess.STDOUT))
        wait_port(nats_port, procs[-1], nats_log)
        sqs_log = d / "sqs.log"
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "services.sqs", "--listen", f"127.0.0.1:{sqs_port}",
             "--nats", nats.client_url("127.0.0.1", nats_port), "--credentials", str(d / "credentials"),
             "--region", "us-east-1"],
            cwd=ROOT, stdout=open(sqs_log, "w"), stderr=subprocess.STDOUT))
        wait_port(sqs_port, procs[-1], sqs_log)
        yield {"endpoint": f"http://127.0.0.1:{sqs_port}", "region": "us-east-1",
               "access_key": "mammatus-sqs", "secret_key": secret}
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)


def test_queue_with_dead_letter_queue_lifecycle(sqs):
    provider = dill.loads(dill.dumps(QueueProvider()))
    dlq_props = {"name": "jobs-dlq", "connection": sqs, "visibility_timeout": 30,
                 "retention_seconds": 345600, "dead_letter_queue": None, "max_receive_count": 5}
    assert not provider.check({}, dlq_props).failures
    dlq = provider.create(dlq_props)
    assert dlq.outs["arn"] == queue_arn("jobs-dlq")

    props = {**dlq_props, "name": "jobs", "visibility_timeout": 45, "dead_letter_queue": "jobs-dlq",
             "max_receive_count": 3}
    created = provider.create(props)
    assert created.id.endswith("/jobs") and created.outs["arn"] == queue_arn("jobs")

    read = provider.read(created.id, props)
    assert read.outs["visibility_timeout"] == 45
    assert read.outs["dead_letter_queue"] == "jobs-dlq" and read.outs["max_receive_count"] == 3
    assert provider.diff(created.id, props, read.inputs).changes is False

    longer = {**props, "visibility_timeout": 120}
    assert provider.diff(created.id, props, longer).replaces == []
    provider.update(created.id, props, longer)
    assert provider.read(created.id, longer).outs["visibility_timeout"] == 120

    provider.delete(created.id, longer)
    assert provider.read(created.id, longer).id is None
    provider.delete(created.id, longer)   # already gone: not an error
    provider.delete(dlq.id, dlq_props)


def test_fifo_queue(sqs):
    provider = QueueProvider()
    props = {"name": "orders.fifo", "connection": sqs, "visibility_timeout": 30,
             "retention_seconds": 3600, "dead_letter_queue": None, "max_receive_count": 5}
    created = provider.create(props)
    try:
        import boto3
        client = boto3.client("sqs", endpoint_url=sqs["endpoint"], region_name="us-east-1",
                              aws_access_key_id=sqs["access_key"], aws_secret_access_key=sqs["secret_key"])
        attributes = client.get_queue_attributes(QueueUrl=created.id, AttributeNames=["All"])["Attributes"]
        assert attributes["FifoQueue"] == "true"
        assert attributes["MessageRetentionPeriod"] == "3600"
    finally:
        provider.delete(created.id, props)
