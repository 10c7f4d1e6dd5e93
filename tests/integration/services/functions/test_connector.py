"""The functions connector against the real SNS, SQS and NATS and a stand-in of the OpenFaaS
gateway's invoke API: each trigger invokes exactly once with the right body and headers, and a
failing function's SQS message ends in the dead-letter queue after maxReceiveCount."""

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from services.sns.signing import Signer
from .conftest import CRON_ZONE, MAX_RECEIVES, PASSWORD

pytestmark = pytest.mark.integration


def test_the_stand_in_insists_on_basic_auth(world):
    request = urllib.request.Request(world.gateway.url + "/function/report", data=b"x",
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 401


def test_an_sns_message_invokes_the_function_once(world):
    attrs = world.sns.get_subscription_attributes(SubscriptionArn=world.subscription_arn)
    assert attrs["Attributes"]["Endpoint"].startswith(world.connector.url + "/sns/")
    sent = world.sns.publish(TopicArn=world.topic_arn, Message='{"order": 42}', Subject="order",
                             MessageAttributes={"shop": {"DataType": "String", "StringValue": "eu"}})
    (call,) = world.gateway.wait_for("on-order")
    time.sleep(1.0)
    assert len(world.gateway.of("on-order")) == 1
    assert not call.asynchronous and call.body == b'{"order": 42}'
    h = call.headers
    assert h["Authorization"] == "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert (h["X-Mammatus-Trigger"], h["X-Mammatus-Topic-Arn"], h["X-Mammatus-Message-Id"]) == \
        ("sns", world.topic_arn, sent["MessageId"])
    assert h["X-Mammatus-Subject"] == "order"
    assert json.loads(h["X-Mammatus-Message-Attributes"])["shop"]["Value"] == "eu"


def test_a_forged_notification_invokes_nothing(world):
    forger = Signer.self_signed()   # a key the cloud's CA never certified
    doc = {"Type": "Notification", "MessageId": "forged-1", "TopicArn": world.topic_arn,
           "Message": "rm -rf", "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "2"}
    doc["Signature"] = forger.sign(doc)
    doc["SigningCertURL"] = world.signing_cert_url   # SNS's real certificate, a forged signature
    path = world.sns.get_subscription_attributes(
        SubscriptionArn=world.subscription_arn)["Attributes"]["Endpoint"]
    request = urllib.request.Request(path, data=json.dumps(doc).encode(), method="POST",
                                     headers={"x-amz-sns-message-type": "Notification"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403
    assert not any(i.body == b"rm -rf" for i in world.gateway.of("on-order"))


def test_an_sqs_message_invokes_the_function_once_and_is_deleted(world):
    sent = world.sqs.send_message(QueueUrl=world.queue_url, MessageBody="resize 7.png")
    (call,) = world.gateway.wait_for("thumbnail")
    assert call.body == b"resize 7.png" and not call.asynchronous
    assert (call.headers["X-Mammatus-Trigger"], call.headers["X-Mammatus-Message-Id"],
            call.headers["X-Mammatus-Receive-Count"]) == ("sqs", sent["MessageId"], "1")
    assert call.headers["X-Mammatus-Queue"].startswith("jobs-")

    def gone():
        a = world.sqs.get_queue_attributes(QueueUrl=world.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return a["ApproximateNumberOfMessages"] == a["ApproximateNumberOfMessagesNotVisible"] == "0"
    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert gone()
    time.sleep(2.0)   # past any visibility timeout a kept message would have
    assert len(world.gateway.of("thumbnail")) == 1


def test_a_failing_functions_message_comes_back_then_ends_in_the_dead_letter_queue(world):
    sent = world.sqs.send_message(QueueUrl=world.flaky_url, MessageBody="will fail")
    moved = []
    deadline = time.monotonic() + 45
    while not moved and time.monotonic() < deadline:
        moved = world.sqs.receive_message(QueueUrl=world.dlq_url, WaitTimeSeconds=5,
                                          AttributeNames=["All"]).get("Messages", [])
    assert moved, "the message never reached the dead-letter queue"
    assert moved[0]["MessageId"] == sent["MessageId"] and moved[0]["Body"] == "will fail"
    calls = [c for c in world.gateway.of("flaky")
             if c.headers["X-Mammatus-Message-Id"] == sent["MessageId"]]
    # Invoked once per receive, maxReceiveCount times, then moved by SQS: never deleted.
    assert [c.headers["X-Mammatus-Receive-Count"] for c in calls] == \
        [str(n) for n in range(1, MAX_RECEIVES + 1)]
    assert all(c.body == b"will fail" for c in calls)


def test_a_cron_tick_in_the_schedules_time_zone_invokes_once(world):
    wait = world.cron_tick.timestamp() - time.time() + 10
    (call,) = world.gateway.wait_for("report", timeout=max(wait, 1))
    time.sleep(1.5)
    assert len(world.gateway.of("report")) == 1
    tick = world.cron_tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert call.asynchronous   # invoke: async -> /async-function/report
    assert (call.headers["X-Mammatus-Trigger"], call.headers["X-Mammatus-Schedule"],
            call.headers["X-Mammatus-Timezone"], call.headers["X-Mammatus-Tick"]) == \
        ("cron", world.cron_schedule, CRON_ZONE, tick)
    body = json.loads(call.body)
    assert body["tick"] == tick and body["timezone"] == CRON_ZONE
    assert body["local"].endswith("+05:45")
    assert abs(call.at - world.cron_tick.timestamp()) < 2
