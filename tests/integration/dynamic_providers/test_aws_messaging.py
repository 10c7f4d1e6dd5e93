"""The messaging providers against the cloud's real SNS and SQS services (services/sns,
services/sqs) on a real NATS JetStream, all started the way the Nats/Notifications/Queues
components start them: nats-server with the rendered config (components/render/nats.py), the
services with the components' flags and rendered credentials files (SQS also accepting SNS's key,
SNS told where SQS is). On loopback. Ends with a message published to a topic arriving in a
queue through a subscription the provider made.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import dill
import pytest

from components.messaging import credentials_ini, sns_args
from components.render import nats
from dynamic_providers.aws_messaging import QueueProvider, SubscriptionProvider, TopicProvider, queue_arn, topic_arn
from tests.support.daemons import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
NATS = str(ROOT / ".venv" / "bin" / "nats-server")


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(200):
        assert proc.poll() is None, log.read_text()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listening on {port}: {log.read_text()}")


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    d = tmp_path_factory.mktemp("messaging")
    nats_port, sqs_port, sns_port = free_port(), free_port(), free_port()
    (d / "nats.conf").write_text(nats.render(server_name="mammatus-test", port=nats_port,
                                             monitor_port=None, store_dir=str(d / "js")))
    sqs_secret, sns_secret = secrets.token_hex(20), secrets.token_hex(20)
    (d / "sqs-credentials").write_text(credentials_ini("mammatus-sqs", sqs_secret,
                                                       {"sns": ("mammatus-sns", sns_secret)}))
    (d / "sns-credentials").write_text(credentials_ini("mammatus-sns", sns_secret))
    nats_url = nats.client_url("127.0.0.1", nats_port)
    procs = []

    def start(argv, port, log_name, **kwargs):
        log = d / log_name
        procs.append(subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, **kwargs))
        wait_port(port, procs[-1], log)

    try:
        start([NATS, "-c", str(d / "nats.conf")], nats_port, "nats.log")
        start([sys.executable, "-m", "services.sqs", "--listen", f"127.0.0.1:{sqs_port}",
               "--nats", nats_url, "--credentials", str(d / "sqs-credentials"), "--region", "us-east-1"],
              sqs_port, "sqs.log", cwd=ROOT)
        start([sys.executable, "-m", "services.sns", "--listen", f"127.0.0.1:{sns_port}",
               "--nats", nats_url, "--credentials", str(d / "sns-credentials"), "--region", "us-east-1",
               *sns_args("127.0.0.1", f"http://127.0.0.1:{sqs_port}", str(d / "sns-credentials"))],
              sns_port, "sns.log", cwd=ROOT)
        yield {"sqs": {"endpoint": f"http://127.0.0.1:{sqs_port}", "region": "us-east-1",
                       "access_key": "mammatus-sqs", "secret_key": sqs_secret},
               "sns": {"endpoint": f"http://127.0.0.1:{sns_port}", "region": "us-east-1",
                       "access_key": "mammatus-sns", "secret_key": sns_secret}}
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
def sqs(services):
    return services["sqs"]


def boto(service: str, conn: dict):
    import boto3
    return boto3.client(service, endpoint_url=conn["endpoint"], region_name="us-east-1",
                        aws_access_key_id=conn["access_key"], aws_secret_access_key=conn["secret_key"])


def test_topic_subscription_and_delivery_to_a_queue(services):
    sns, sqs = services["sns"], services["sqs"]
    queues, topics = QueueProvider(), dill.loads(dill.dumps(TopicProvider()))
    subs = dill.loads(dill.dumps(SubscriptionProvider()))
    queue_props = {"name": "events-sink", "connection": sqs, "visibility_timeout": 30,
                   "retention_seconds": 3600, "dead_letter_queue": None, "max_receive_count": 5}
    queue = queues.create(queue_props)
    topic_props = {"name": "events", "connection": sns}
    assert not topics.check({}, topic_props).failures
    topic = topics.create(topic_props)
    assert topic.id == topic_arn("events")
    assert topics.read(topic.id, topic_props).id == topic.id

    sub_props = {"topic_arn": topic.id, "protocol": "sqs", "endpoint": queue.outs["arn"],
                 "connection": sns, "raw_message_delivery": True}
    assert not subs.check({}, sub_props).failures
    sub = subs.create(sub_props)
    assert sub.id.startswith(topic.id + ":")
    assert subs.read(sub.id, sub_props).id == sub.id

    boto("sns", sns).publish(TopicArn=topic.id, Message="hello from the cloud")
    received = []
    for _ in range(10):
        received = boto("sqs", sqs).receive_message(QueueUrl=queue.id, WaitTimeSeconds=2).get("Messages", [])
        if received:
            break
    assert [m["Body"] for m in received] == ["hello from the cloud"]

    subs.delete(sub.id, sub_props)
    assert subs.read(sub.id, sub_props).id is None
    topics.delete(topic.id, topic_props)
    assert topics.read(topic.id, topic_props).id is None
    queues.delete(queue.id, queue_props)


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
