"""Accepted notifications survive a dead subscriber service and a kill -9 of SNS itself."""

import time

import pytest

from tests.support.nats import NatsServer
from tests.integration.services.sqs.procs import Service, client, write_credentials

pytestmark = pytest.mark.integration


def sqs_and_sns(tmp_path, test_ca):
    """A NATS of the test's own (started) and SQS and SNS processes on it (not yet started)."""
    nats = NatsServer(tmp_path / "nats").start()
    creds = write_credentials(tmp_path / "creds")
    sqs_svc = Service("services.sqs", ["--nats", nats.url, "--credentials", str(creds)], tmp_path / "sqs.log")
    sns_svc = Service("services.sns", [
        "--nats", nats.url, "--credentials", str(creds),
        "--signing-cert", str(test_ca / "sns.pem"), "--signing-key", str(test_ca / "sns.key"),
        "--sqs-endpoint", sqs_svc.endpoint, "--sqs-credentials", str(creds)], tmp_path / "sns.log")
    return nats, sqs_svc, sns_svc


def test_pending_deliveries_survive_outage_and_kill_9(tmp_path, test_ca):
    nats, sqs_svc, sns_svc = sqs_and_sns(tmp_path, test_ca)
    try:
        sqs_svc.start()
        sns_svc.start()
        sqs, sns = client("sqs", sqs_svc.endpoint), client("sns", sns_svc.endpoint)
        url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = sns.create_topic(Name="events")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})

        sqs_svc.stop()  # the subscriber's service is down: deliveries fail and wait to be retried
        for i in range(5):
            sns.publish(TopicArn=topic, Message=f"n{i}")
        sns_svc.kill()  # and SNS dies with them pending
        sqs_svc.start()
        sns_svc.start()

        sqs = client("sqs", sqs_svc.endpoint)
        got = []
        for _ in range(60):
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            for m in msgs:
                got.append(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if len(got) >= 5:
                break
        assert sorted(got) == [f"n{i}" for i in range(5)]
    finally:
        sns_svc.stop()
        sqs_svc.stop()
        nats.stop()


def test_sns_rides_through_nats_restart(tmp_path, test_ca):
    nats = NatsServer(tmp_path / "nats").start()
    creds = write_credentials(tmp_path / "creds")
    sqs_svc = Service("services.sqs", ["--nats", nats.url, "--credentials", str(creds)], tmp_path / "sqs.log")
    sns_args = ["--nats", nats.url, "--credentials", str(creds),
                "--signing-cert", str(test_ca / "sns.pem"), "--signing-key", str(test_ca / "sns.key"),
                "--sqs-endpoint", sqs_svc.endpoint, "--sqs-credentials", str(creds)]
    a = Service("services.sns", sns_args, tmp_path / "a.log")
    b = Service("services.sns", sns_args, tmp_path / "b.log")
    try:
        sqs_svc.start()
        a.start()
        b.start()
        sqs, sa, sb = client("sqs", sqs_svc.endpoint), client("sns", a.endpoint), client("sns", b.endpoint)
        url = sqs.create_queue(QueueName="after")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = sa.create_topic(Name="restart")["TopicArn"]
        nats.stop()
        nats.start()
        for _ in range(100):  # subscribe through a once NATS is back
            try:
                sa.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                             Attributes={"RawMessageDelivery": "true"})
                break
            except Exception:  # noqa: BLE001 - not subscribed yet: retried
                time.sleep(0.1)
        got = []
        for i in range(100):  # publish through b until b has seen the new subscription
            sb.publish(TopicArn=topic, Message=f"p{i}")
            msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
            got += [m["Body"] for m in msgs]
            if got:
                break
        assert got and got[0].startswith("p")
    finally:
        a.stop()
        b.stop()
        sqs_svc.stop()
        nats.stop()


async def _set_subjects(url: str, stream: str, subjects: list[str]) -> None:
    import nats as nats_client

    from services.awsapi import jetstream as js
    nc = await nats_client.connect(url)
    try:
        config = (await js.stream_info(nc, stream))["config"]
        await js.api(nc, f"STREAM.UPDATE.{stream}", {**config, "subjects": subjects})
    finally:
        await nc.close()


def test_a_fifo_publish_that_failed_half_way_is_delivered_on_retry(tmp_path, test_ca):
    from botocore.exceptions import ClientError

    from tests.support import aio

    nats, sqs_svc, sns_svc = sqs_and_sns(tmp_path, test_ca)
    try:
        sqs_svc.start()
        sns_svc.start()
        sqs, sns = client("sqs", sqs_svc.endpoint), client("sns", sns_svc.endpoint)
        url = sqs.create_queue(QueueName="in.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        publish = dict(TopicArn=topic, Message="m", MessageGroupId="g", MessageDeduplicationId="d1")

        # The deliveries' stream stops taking jobs: the publish fails after its dedup claim.
        aio.run(_set_subjects(nats.url, "SNS_DELIVERY", ["snsd-off.>"]))
        with pytest.raises(ClientError) as e:
            sns.publish(**publish)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        aio.run(_set_subjects(nats.url, "SNS_DELIVERY", ["snsd.>"]))
        first = sns.publish(**publish)  # the client's retry is not taken for a duplicate
        again = sns.publish(**publish)  # now a duplicate, answered as the first was
        assert (again["MessageId"], again["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
        got = []
        for _ in range(10):
            msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
            for m in msgs:
                got.append(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if got and not msgs:
                break
        assert got == ["m"]  # once: neither lost nor doubled
    finally:
        sns_svc.stop()
        sqs_svc.stop()
        nats.stop()
