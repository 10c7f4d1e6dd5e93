"""The alert relay as a process between a Kapacitor-shaped post and the real SNS and SQS
services: the alert arrives in a queue subscribed to the alerts topic."""

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.services.sqs.procs import Service, client, write_credentials

pytestmark = pytest.mark.integration

# What Kapacitor 1.7's httppost handler sends for an alert (its alert.Data), trimmed.
KAPACITOR_ALERT = {
    "id": "service_down:control/mammatus-nats.service", "message": "mammatus-nats.service is inactive on control",
    "details": "", "time": "2026-12-01T21:00:00Z", "duration": 0, "level": "CRITICAL",
    "previousLevel": "OK",
    "data": {"series": [{"name": "systemd_units", "tags": {"host": "control", "name": "mammatus-nats.service"},
                         "columns": ["time", "value"], "values": [["2026-12-01T21:00:00Z", 2]]}]},
}


@pytest.fixture(scope="module")
def relay(sns_service, sqs_service, tmp_path_factory):
    sns, sqs = client("sns", sns_service.endpoint), client("sqs", sqs_service.endpoint)
    topic = sns.create_topic(Name="alerts-relay-test")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-relay-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    d = tmp_path_factory.mktemp("relay")
    (d / "password").write_text("kapacitor-pw\n")
    (d / "topic").write_text(topic + "\n")
    svc = Service("services.alerts", [
        "--password-file", str(d / "password"), "--sns-endpoint", sns_service.endpoint,
        "--topic-arn-file", str(d / "topic"), "--credentials", str(write_credentials(d / "credentials"))],
        d / "relay.log").start()
    yield svc, sqs, queue
    svc.stop()


def post(svc, body: bytes, password: str = "kapacitor-pw") -> int:
    auth = base64.b64encode(f"kapacitor:{password}".encode()).decode()
    request = urllib.request.Request(f"{svc.endpoint}/kapacitor", data=body, method="POST",
                                     headers={"Authorization": f"Basic {auth}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_an_alert_reaches_a_queue_subscribed_to_the_topic(relay):
    svc, sqs, queue = relay
    assert post(svc, json.dumps(KAPACITOR_ALERT).encode()) == 202
    deadline, got = time.monotonic() + 30, []
    while not got and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert got, "the alert did not arrive"
    message = json.loads(got[0]["Body"])
    assert message["level"] == "CRITICAL" and message["previousLevel"] == "OK"
    assert message["id"] == KAPACITOR_ALERT["id"]
    assert message["tags"] == {"host": "control", "name": "mammatus-nats.service"}


@pytest.mark.parametrize("body, password, status", [
    (json.dumps(KAPACITOR_ALERT).encode(), "wrong", 401),
    (b"{not json", "kapacitor-pw", 400),
    (json.dumps({**KAPACITOR_ALERT, "level": "PANIC"}).encode(), "kapacitor-pw", 400),
    (json.dumps([1, 2]).encode(), "kapacitor-pw", 400),
])
def test_a_bad_post_gets_a_4xx(relay, body, password, status):
    assert post(relay[0], body, password) == status
