"""Receipt handles and NATS failures, as AWS answers them: a stale handle deletes nothing, a forged
one is refused, and NATS trouble is a retryable 503, never a wrong success or a missing queue."""

import base64
import os
import signal
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.support.daemons import wait_for_port
from tests.support.nats import NatsServer, nats_server_binary
from .procs import Service, client, write_credentials

pytestmark = pytest.mark.integration


def new_queue(sqs, **attrs):
    return sqs.create_queue(QueueName=f"r-{uuid.uuid4().hex[:10]}",
                            Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]


def code(e) -> str:
    return e.value.response["Error"]["Code"]


def test_a_stale_handle_deletes_nothing_and_the_current_one_still_works(sqs):
    url = new_queue(sqs, VisibilityTimeout=1)
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    (first,) = sqs.receive_message(QueueUrl=url)["Messages"]
    time.sleep(1.5)  # visible again: another consumer takes it
    (second,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"]
    assert second["Body"] == "kept"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # succeeds, as in SQS
    with pytest.raises(ClientError) as e:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"],
                                      VisibilityTimeout=0)
    assert code(e) == "InvalidParameterValue"
    # Still the second consumer's: it makes it visible, and it is there.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"],
                                  VisibilityTimeout=0)
    (third,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert third["Body"] == "kept"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_a_forged_handle_is_refused(sqs):
    url = new_queue(sqs)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    (got,) = sqs.receive_message(QueueUrl=url)["Messages"]
    qid, reply, mac = base64.urlsafe_b64decode(got["ReceiptHandle"]).decode().split(" ")
    parts = reply.split(".")
    parts[5] = str(int(parts[5]) % 2 + 1)  # the other message's stream sequence
    forged = base64.urlsafe_b64encode(f"{qid} {'.'.join(parts)} {mac}".encode()).decode()
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=forged)
    assert code(e) == "ReceiptHandleIsInvalid"
    unsigned = base64.urlsafe_b64encode(f"{qid} {reply}".encode()).decode()  # the old format
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=unsigned)
    assert code(e) == "ReceiptHandleIsInvalid"


@pytest.fixture
def own_nats(tmp_path):
    """A NATS and one SQS process of this test's own (it stops and freezes them)."""
    nats = NatsServer(tmp_path / "nats").start()
    svc = Service("services.sqs", ["--nats", nats.url, "--credentials",
                                   str(write_credentials(tmp_path / "creds"))],
                  tmp_path / "sqs.log").start()
    yield nats, client("sqs", svc.endpoint)
    if nats.proc is not None:
        os.kill(nats.proc.pid, signal.SIGCONT)
    svc.stop()
    nats.stop()


def test_a_delete_nats_never_answers_is_a_503_and_its_retry_settles_it(own_nats):
    nats, sqs = own_nats
    url = new_queue(sqs, VisibilityTimeout=2)
    sqs.send_message(QueueUrl=url, MessageBody="not lost")
    (m,) = sqs.receive_message(QueueUrl=url)["Messages"]
    os.kill(nats.proc.pid, signal.SIGSTOP)  # alive, silent: every request times out
    try:
        with pytest.raises(ClientError) as e:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        assert code(e) == "ServiceUnavailable"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    finally:
        os.kill(nats.proc.pid, signal.SIGCONT)
    # Never a success NATS did not confirm; like any 5xx from AWS, the 503 leaves the outcome
    # open (the ack may still reach NATS): the SDK's retry with the same handle succeeds.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)


def test_without_jetstream_a_send_is_a_503_not_a_missing_queue(own_nats):
    nats, sqs = own_nats
    url = new_queue(sqs)
    port = nats.port
    nats.stop()
    # The same port, core NATS only: nobody answers a publish, the queue still exists.
    plain = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, plain)
        time.sleep(1.5)  # the service has reconnected
        with pytest.raises(ClientError) as e:
            sqs.send_message(QueueUrl=url, MessageBody="x")
        assert code(e) == "ServiceUnavailable"
    finally:
        plain.terminate()
        plain.wait(10)


def test_fifo_deduplication_outlives_a_nats_restart(own_nats):
    nats, sqs = own_nats
    url = sqs.create_queue(QueueName=f"d-{uuid.uuid4().hex[:8]}.fifo",
                           Attributes={"FifoQueue": "true"})["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                            MessageDeduplicationId="d1")
    (m,) = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])  # consumed: gone from JetStream
    nats.stop()
    nats.start()
    for _ in range(100):  # the service reconnects on its own
        try:
            again = sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                                     MessageDeduplicationId="d1")
            break
        except ClientError:
            time.sleep(0.1)
    assert again["MessageId"] == sent["MessageId"]  # accepted as the duplicate it is
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
