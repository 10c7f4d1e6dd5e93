"""The messaging providers against the cloud's real SNS and SQS services (services/sns,
services/sqs) on a real NATS JetStream, all started the way the Nats/Notifications/Queues
components start them: nats-server with the rendered config (components/render/nats.py), the
services with the components' flags and rendered credentials files (SQS also accepting SNS's key,
SNS told where SQS is). On loopback. Ends with a message published to a topic arriving in a
queue through a subscription the provider made; then the same over HTTPS (certificates from a
throwaway CA, the connections carrying its root), and a queue made over HTTP kept, updated in
place, when its SQS moves to HTTPS.
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
from tests.support.pki import TlsFiles, make_pki, write_server_files

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


class Messaging:
    """nats-server, services.sqs and services.sns as the components start them (HTTPS with
    `tls`: their certificate, SNS verifying SQS against the root); the providers' connections."""

    def __init__(self, d: Path, tls: TlsFiles | None = None):
        self.d, self.tls = d, tls
        self.ports = {"nats": free_port(), "sqs": free_port(), "sns": free_port()}
        self.scheme = "https" if tls else "http"
        self.secrets = {"sqs": secrets.token_hex(20), "sns": secrets.token_hex(20)}
        self.procs: dict[str, subprocess.Popen] = {}
        (d / "nats.conf").write_text(nats.render(server_name="mammatus-test", port=self.ports["nats"],
                                                 monitor_port=None, store_dir=str(d / "js")))
        (d / "sqs-credentials").write_text(credentials_ini("mammatus-sqs", self.secrets["sqs"],
                                                           {"sns": ("mammatus-sns", self.secrets["sns"])}))
        (d / "sns-credentials").write_text(credentials_ini("mammatus-sns", self.secrets["sns"]))

    def endpoint(self, kind: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.ports[kind]}"

    def connection(self, kind: str) -> dict:
        conn = {"endpoint": self.endpoint(kind), "region": "us-east-1",
                "access_key": f"mammatus-{kind}", "secret_key": self.secrets[kind]}
        return {**conn, "ca_pem": Path(self.tls.root).read_text()} if self.tls else conn

    def _start(self, name: str, argv: list[str], **kwargs) -> None:
        log = self.d / f"{name}.log"
        self.procs[name] = subprocess.Popen(argv, stdout=open(log, "a"), stderr=subprocess.STDOUT, **kwargs)
        wait_port(self.ports[name], self.procs[name], log)

    def _tls_args(self) -> list[str]:
        return ["--tls-cert", self.tls.cert, "--tls-key", self.tls.key] if self.tls else []

    def start_nats(self) -> None:
        self._start("nats", [NATS, "-c", str(self.d / "nats.conf")])

    def start_sqs(self) -> None:
        self._start("sqs", [sys.executable, "-m", "services.sqs", "--listen", f"127.0.0.1:{self.ports['sqs']}",
                            "--nats", nats.client_url("127.0.0.1", self.ports["nats"]),
                            "--credentials", str(self.d / "sqs-credentials"), "--region", "us-east-1",
                            *self._tls_args()], cwd=ROOT)

    def start_sns(self) -> None:
        self._start("sns", [sys.executable, "-m", "services.sns", "--listen", f"127.0.0.1:{self.ports['sns']}",
                            "--nats", nats.client_url("127.0.0.1", self.ports["nats"]),
                            "--credentials", str(self.d / "sns-credentials"), "--region", "us-east-1",
                            *self._tls_args(),
                            *sns_args("127.0.0.1", self.endpoint("sqs"), str(self.d / "sns-credentials"),
                                      self.scheme, self.tls.root if self.tls else None)], cwd=ROOT)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        proc.wait(timeout=20)

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)


def running(directory, tls=None):
    """NATS, SQS and SNS of the tests' own (HTTPS with `tls`): their connections, then stopped."""
    messaging = Messaging(directory, tls)
    try:
        messaging.start_nats()
        messaging.start_sqs()
        messaging.start_sns()
        yield {"sqs": messaging.connection("sqs"), "sns": messaging.connection("sns")}
    finally:
        messaging.stop_all()


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    yield from running(tmp_path_factory.mktemp("messaging"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> TlsFiles:
    """A throwaway CA standing in for the cloud's step-ca, and a certificate it issued for 127.0.0.1."""
    return write_server_files(tmp_path_factory.mktemp("tls"), make_pki())


@pytest.fixture(scope="module")
def tls_services(tmp_path_factory, tls):
    yield from running(tmp_path_factory.mktemp("tls-messaging"), tls)


@pytest.fixture(scope="module")
def sqs(services):
    return services["sqs"]


def boto(service: str, conn: dict, verify: str | None = None):
    """A client of the test's own (`verify`: the root file of an https endpoint)."""
    import boto3
    return boto3.client(service, endpoint_url=conn["endpoint"], region_name="us-east-1",
                        aws_access_key_id=conn["access_key"], aws_secret_access_key=conn["secret_key"],
                        verify=verify)


def _topic_subscription_and_delivery(services, verify: str | None = None) -> None:
    """Providers (two of them through a dill round-trip, as Pulumi ships them) make a queue, a
    topic and a raw subscription; a publish arrives in the queue; all three are deleted."""
    sns, sqs = services["sns"], services["sqs"]
    queues, topics = QueueProvider(), dill.loads(dill.dumps(TopicProvider()))
    subs = dill.loads(dill.dumps(SubscriptionProvider()))
    queue_props = {"name": "events-sink", "connection": sqs, "visibility_timeout": 30,
                   "retention_seconds": 3600, "dead_letter_queue": None, "max_receive_count": 5}
    queue = queues.create(queue_props)
    assert queue.outs["url"] == f"{sqs['endpoint']}/000000000000/events-sink"
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

    boto("sns", sns, verify).publish(TopicArn=topic.id, Message="hello from the cloud")
    received = []
    for _ in range(10):
        received = boto("sqs", sqs, verify).receive_message(QueueUrl=queue.id, WaitTimeSeconds=2).get("Messages", [])
        if received:
            break
    assert [m["Body"] for m in received] == ["hello from the cloud"]

    subs.delete(sub.id, sub_props)
    assert subs.read(sub.id, sub_props).id is None
    topics.delete(topic.id, topic_props)
    assert topics.read(topic.id, topic_props).id is None
    queues.delete(queue.id, queue_props)


def test_topic_subscription_and_delivery_to_a_queue(services):
    _topic_subscription_and_delivery(services)


def test_over_https_verified_against_the_clouds_root(tls_services, tls):
    # SNS delivers to SQS over HTTPS too, verifying it against the root (--ca-file).
    assert tls_services["sqs"]["endpoint"].startswith("https://")
    _topic_subscription_and_delivery(tls_services, tls.root)


def test_over_https_a_connection_without_the_root_is_refused(tls_services, monkeypatch):
    import botocore.config
    from botocore.exceptions import SSLError
    # One attempt: the provider retries connection errors (a service restarting) for ~30 s.
    config = botocore.config.Config
    monkeypatch.setattr(botocore.config, "Config",
                        lambda **kw: config(**{**kw, "retries": {"max_attempts": 1}}))
    untrusting = {k: v for k, v in tls_services["sns"].items() if k != "ca_pem"}
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        dill.loads(dill.dumps(TopicProvider())).create({"name": "never", "connection": untrusting})


def test_a_queue_made_over_http_is_updated_in_place_when_sqs_moves_to_https(tmp_path, tls):
    messaging = Messaging(tmp_path)
    provider = dill.loads(dill.dumps(QueueProvider()))
    try:
        messaging.start_nats()
        messaging.start_sqs()
        plain = {"name": "kept", "connection": messaging.connection("sqs"), "visibility_timeout": 30,
                 "retention_seconds": 3600, "dead_letter_queue": None, "max_receive_count": 5}
        made = provider.create(plain)
        boto("sqs", plain["connection"]).send_message(QueueUrl=made.id, MessageBody="still here")
        # The stack gains a CA: the same SQS, on the same port, now with a certificate.
        messaging.stop("sqs")
        messaging.tls, messaging.scheme = tls, "https"
        messaging.start_sqs()
        secure = {**plain, "connection": messaging.connection("sqs")}
        diff = provider.diff(made.id, {**plain, **made.outs}, secure)
        assert diff.changes and diff.replaces == []
        updated = provider.update(made.id, {**plain, **made.outs}, secure)
        assert updated.outs["url"] == f"https://127.0.0.1:{messaging.ports['sqs']}/000000000000/kept"
        assert provider.read(made.id, secure).outs["url"] == updated.outs["url"]
        got = boto("sqs", secure["connection"], tls.root).receive_message(QueueUrl=updated.outs["url"],
                                                                         WaitTimeSeconds=2)
        assert [m["Body"] for m in got["Messages"]] == ["still here"]
        provider.delete(made.id, secure)
        assert provider.read(made.id, secure).id is None
    finally:
        messaging.stop_all()


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
