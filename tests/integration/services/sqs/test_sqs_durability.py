"""Durability and scale-out: kill -9 mid-load, restart, nothing acknowledged lost; two processes."""

import threading
import time
import uuid

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.nats import NatsServer
from .procs import Service, client, write_credentials

pytestmark = pytest.mark.integration
GROUPS = 3


def drain(sqs, url, want_at_least, max_rounds=1000):
    bodies = []
    empty = 0
    for _ in range(max_rounds):
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        msgs = r.get("Messages", [])
        if not msgs:
            empty += 1
            if len(bodies) >= want_at_least and empty >= 2:
                break
            continue
        empty = 0
        for m in msgs:
            bodies.append(m["Body"])
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
    return bodies


def test_kill_9_service_and_nats_mid_load(tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    creds = write_credentials(tmp_path / "creds")
    args = ["--nats", nats.url, "--credentials", str(creds)]
    svc = Service("services.sqs", args, tmp_path / "sqs.log").start()
    try:
        sqs = client("sqs", svc.endpoint)
        std = sqs.create_queue(QueueName="durable")["QueueUrl"]
        fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        acked: dict[str, list[str]] = {"std": []} | {f"g{g}": [] for g in range(GROUPS)}
        stop = threading.Event()

        def sender(key):
            c = client("sqs", svc.endpoint)
            i = 0
            while not stop.is_set():
                body = f"{key}:{i}"
                try:
                    if key == "std":
                        c.send_message(QueueUrl=std, MessageBody=body)
                    else:
                        c.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId=key)
                except (ClientError, BotoCoreError):
                    return  # the service died under us; what was acknowledged is recorded
                acked[key].append(body)
                i += 1

        threads = [threading.Thread(target=sender, args=(k,)) for k in acked]
        for t in threads:
            t.start()
        while sum(len(v) for v in acked.values()) < 400:
            time.sleep(0.05)
        svc.kill()     # kill -9 both while the senders are mid-request
        nats.kill()
        stop.set()
        for t in threads:
            t.join(30)
        assert all(len(v) > 0 for v in acked.values())

        nats.start()   # same port, same store directory
        svc.start()
        sqs = client("sqs", svc.endpoint)
        got_std = drain(sqs, std, len(acked["std"]))
        assert set(acked["std"]) <= set(got_std)
        got_fifo = drain(sqs, fifo, sum(len(acked[f"g{g}"]) for g in range(GROUPS)))
        for g in range(GROUPS):
            key = f"g{g}"
            seq = [int(b.split(":")[1]) for b in got_fifo if b.startswith(key + ":")]
            assert seq == sorted(seq), f"group {key} out of order"
            assert set(acked[key]) <= {f"{key}:{n}" for n in seq}
    finally:
        svc.stop()
        nats.stop()


def test_two_processes_share_queues(tmp_path, nats_server):
    creds = write_credentials(tmp_path / "creds")
    args = ["--nats", nats_server.url, "--credentials", str(creds)]
    a = Service("services.sqs", args, tmp_path / "a.log").start()
    b = Service("services.sqs", args, tmp_path / "b.log").start()
    try:
        ca, cb = client("sqs", a.endpoint), client("sqs", b.endpoint)
        n = f"shared-{uuid.uuid4().hex[:8]}"
        url_a = ca.create_queue(QueueName=n)["QueueUrl"]
        url_b = cb.get_queue_url(QueueName=n)["QueueUrl"]
        ca.send_message(QueueUrl=url_a, MessageBody="from a")
        (m,) = cb.receive_message(QueueUrl=url_b, VisibilityTimeout=600)["Messages"]
        assert m["Body"] == "from a"
        assert "Messages" not in ca.receive_message(QueueUrl=url_a)  # in flight for both
        ca.delete_message(QueueUrl=url_a, ReceiptHandle=m["ReceiptHandle"])  # a settles b's receive
        cb.set_queue_attributes(QueueUrl=url_b, Attributes={"DelaySeconds": "7"})
        for _ in range(50):
            attrs = ca.get_queue_attributes(QueueUrl=url_a, AttributeNames=["DelaySeconds"])["Attributes"]
            if attrs["DelaySeconds"] == "7":
                break
            time.sleep(0.1)
        assert attrs["DelaySeconds"] == "7"
        f = ca.create_queue(QueueName=n + ".fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        ca.send_message(QueueUrl=f, MessageBody="1", MessageGroupId="g")
        cb.send_message(QueueUrl=f.replace(a.endpoint, b.endpoint), MessageBody="2", MessageGroupId="g")
        first = ca.receive_message(QueueUrl=f)["Messages"][0]
        assert first["Body"] == "1"
        assert "Messages" not in cb.receive_message(QueueUrl=f.replace(a.endpoint, b.endpoint))
        ca.delete_message(QueueUrl=f, ReceiptHandle=first["ReceiptHandle"])
        second = cb.receive_message(QueueUrl=f.replace(a.endpoint, b.endpoint), WaitTimeSeconds=2)
        assert second["Messages"][0]["Body"] == "2"
        cb.delete_queue(QueueUrl=url_b)
        for _ in range(50):
            try:
                ca.send_message(QueueUrl=url_a, MessageBody="x")
            except ca.exceptions.QueueDoesNotExist:
                break
            time.sleep(0.1)
        else:
            pytest.fail("queue deleted through b still usable through a")
    finally:
        a.stop()
        b.stop()


def test_restart_keeps_in_flight_and_metadata(tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    creds = write_credentials(tmp_path / "creds")
    svc = Service("services.sqs", ["--nats", nats.url, "--credentials", str(creds)], tmp_path / "s.log").start()
    try:
        sqs = client("sqs", svc.endpoint)
        url = sqs.create_queue(QueueName="keep", Attributes={"VisibilityTimeout": "2"}, tags={"t": "1"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="in flight")
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "in flight"
        svc.stop()
        nats.stop()
        nats.start()
        svc.start()
        sqs = client("sqs", svc.endpoint)
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"t": "1"}
        got = drain(sqs, url, 1, max_rounds=10)
        assert got == ["in flight"]
    finally:
        svc.stop()
        nats.stop()


def test_service_rides_through_nats_restart(tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    creds = write_credentials(tmp_path / "creds")
    a = Service("services.sqs", ["--nats", nats.url, "--credentials", str(creds)], tmp_path / "a.log").start()
    b = Service("services.sqs", ["--nats", nats.url, "--credentials", str(creds)], tmp_path / "b.log").start()
    try:
        ca, cb = client("sqs", a.endpoint), client("sqs", b.endpoint)
        url = ca.create_queue(QueueName="ride")["QueueUrl"]
        cb.get_queue_url(QueueName="ride")
        ca.send_message(QueueUrl=url, MessageBody="before")
        nats.stop()
        nats.start()
        got = None
        for _ in range(100):  # the client reconnects on its own
            try:
                got = cb.receive_message(QueueUrl=url.replace(a.endpoint, b.endpoint), WaitTimeSeconds=1)
                break
            except ClientError:
                time.sleep(0.1)
        assert got["Messages"][0]["Body"] == "before"
        # changes made through one process after the restart still reach the other
        ca.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "77"})
        for _ in range(100):
            attrs = cb.get_queue_attributes(QueueUrl=url.replace(a.endpoint, b.endpoint),
                                            AttributeNames=["VisibilityTimeout"])["Attributes"]
            if attrs["VisibilityTimeout"] == "77":
                break
            time.sleep(0.1)
        assert attrs["VisibilityTimeout"] == "77"
    finally:
        a.stop()
        b.stop()
        nats.stop()
