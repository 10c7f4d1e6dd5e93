"""boto3 against the SNS service (query protocol): topics, subscriptions, publishing, delivery."""

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from .subscriber import Subscriber, verify

pytestmark = pytest.mark.integration


def uniq(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code(e):
    return e.value.response["Error"]["Code"]


def make_queue(sqs, fifo=False):
    name = uniq("q") + (".fifo" if fifo else "")
    attrs = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs, url, expect, rounds=20):
    out = []
    for _ in range(rounds):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   MessageAttributeNames=["All"]).get("Messages", [])
        for m in msgs:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(out) >= expect and not msgs:
            break
    return out


def test_topic_lifecycle_attributes_tags(sns):
    name = uniq()
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "hello"},
                           Tags=[{"Key": "team", "Value": "infra"}])["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == arn
    assert {"TopicArn": arn} in sns.list_topics()["Topics"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "hello" and attrs["TopicArn"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="bye")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "bye"
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "lab"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "lab"}]
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_topic_attributes(TopicArn=arn)


def test_topic_errors(sns):
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.create_topic(Name="bad name!")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.create_topic(Name=uniq(), Attributes={"FifoTopic": "true"})  # FIFO needs .fifo
    arn = sns.create_topic(Name=uniq())["TopicArn"]
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Bogus", AttributeValue="x")
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.publish(TopicArn=arn + "-missing", Message="x")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=arn, Message="")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=arn, Message="x", Subject="line\nbreak")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=arn, Message='{"nodefault": 1}', MessageStructure="json")
    with pytest.raises(sns.exceptions.InvalidParameterValueException):
        sns.publish(TopicArn=arn, Message="x", MessageAttributes={"a": {"DataType": "Number", "StringValue": "NaNx"}})
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.subscribe(TopicArn=arn, Protocol="smtp", Endpoint="x@y")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint="ftp://127.0.0.1/")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q",
                      Attributes={"FilterPolicy": '{"a": "not-a-list"}'})
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_subscription_attributes(SubscriptionArn=arn + ":00000000-0000-0000-0000-000000000000")


def test_sqs_subscription_signed_envelope_and_raw(sns, sqs, test_ca):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    url, qarn = make_queue(sqs)
    raw_url, raw_arn = make_queue(sqs)
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
                  Attributes={"RawMessageDelivery": "true"})
    mid = sns.publish(TopicArn=topic, Message="hello", Subject="greeting",
                      MessageAttributes={"kind": {"DataType": "String", "StringValue": "hi"}})["MessageId"]
    (m,) = drain(sqs, url, 1)
    doc = json.loads(m["Body"])
    assert doc["Type"] == "Notification" and doc["MessageId"] == mid and doc["Message"] == "hello"
    assert doc["Subject"] == "greeting" and doc["TopicArn"] == topic
    assert doc["MessageAttributes"] == {"kind": {"Type": "String", "Value": "hi"}}
    assert doc["SignatureVersion"] == "2"
    assert verify(doc, (test_ca / "ca.pem").read_bytes())
    (r,) = drain(sqs, raw_url, 1)
    assert r["Body"] == "hello"
    assert r["MessageAttributes"]["kind"]["StringValue"] == "hi"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["Endpoint"] for s in listed) == sorted([qarn, raw_arn])
    assert any(s["SubscriptionArn"] == sub for s in sns.list_subscriptions()["Subscriptions"])


def test_a_largest_notification_reaches_an_sqs_queue(sns, sqs):
    # 256 KiB of a four-byte character: escaped in SNS's job, its notification and SQS's envelope.
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    url, qarn = make_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    message = "\N{GRINNING FACE}" * (262144 // 4)
    sns.publish(TopicArn=topic, Message=message)
    (m,) = drain(sqs, url, 1)
    assert json.loads(m["Body"])["Message"] == message


def test_fan_out_with_filter_policies(sns, sqs):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    queues = {}
    policies = {
        "all": None,
        "red": ({"color": ["red"]}, "MessageAttributes"),
        "big": ({"size": [{"numeric": [">", 10]}], "color": [{"anything-but": "blue"}]}, "MessageAttributes"),
        "prefix": ({"color": [{"prefix": "gr"}]}, "MessageAttributes"),
        "body": ({"order": {"status": ["paid"]}}, "MessageBody"),
        "noattr": ({"color": [{"exists": False}]}, "MessageAttributes"),
    }
    for key, pol in policies.items():
        url, arn = make_queue(sqs)
        attrs = {"RawMessageDelivery": "true"}
        if pol:
            attrs.update(FilterPolicy=json.dumps(pol[0]), FilterPolicyScope=pol[1])
        sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attrs)["SubscriptionArn"]
        got = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        assert got["RawMessageDelivery"] == "true"
        queues[key] = url

    def s(v):
        return {"DataType": "String", "StringValue": v}

    def n(v):
        return {"DataType": "Number", "StringValue": str(v)}

    sns.publish(TopicArn=topic, Message="m1", MessageAttributes={"color": s("red"), "size": n(5)})
    sns.publish(TopicArn=topic, Message="m2", MessageAttributes={"color": s("green"), "size": n(50)})
    sns.publish(TopicArn=topic, Message="m3", MessageAttributes={"color": s("blue"), "size": n(50)})
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "paid"}}))
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "open"}}))
    expected = {"all": 5, "red": 1, "big": 1, "prefix": 1, "body": 1, "noattr": 2}
    bodies = {k: sorted(m["Body"] for m in drain(sqs, queues[k], expected[k])) for k in queues}
    assert bodies["red"] == ["m1"]
    assert bodies["big"] == ["m2"]
    assert bodies["prefix"] == ["m2"]
    assert bodies["body"] == [json.dumps({"order": {"status": "paid"}})]
    assert len(bodies["noattr"]) == 2 and all("order" in b for b in bodies["noattr"])
    assert len(bodies["all"]) == 5


def test_message_structure_json_per_protocol(sns, sqs):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    url, arn = make_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "for everyone", "sqs": "for queues"}))
    assert [m["Body"] for m in drain(sqs, url, 1)] == ["for queues"]


def test_publish_batch(sns, sqs):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    url, arn = make_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "one"}, {"Id": "b", "Message": "two"}, {"Id": "c", "Message": ""}])
    assert sorted(s["Id"] for s in r["Successful"]) == ["a", "b"]
    assert r["Failed"][0]["Id"] == "c" and r["Failed"][0]["Code"] == "InvalidParameter"
    assert sorted(m["Body"] for m in drain(sqs, url, 2)) == ["one", "two"]
    with pytest.raises(sns.exceptions.BatchEntryIdsNotDistinctException):
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "x", "Message": "1"},
                                                                      {"Id": "x", "Message": "2"}])
    with pytest.raises(sns.exceptions.TooManyEntriesInBatchRequestException):
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": f"i{i}", "Message": "1"} for i in range(11)])
    with pytest.raises(sns.exceptions.EmptyBatchRequestException):
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[])


def test_fifo_topic_to_fifo_queue(sns, sqs):
    topic = sns.create_topic(Name=uniq() + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, arn = make_queue(sqs, fifo=True)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=topic, Message="x", MessageDeduplicationId="d")  # no group id
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:1/")
    seqs = []
    for i in range(5):
        r = sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")
        seqs.append(r["SequenceNumber"])
    sns.publish(TopicArn=topic, Message="dup", MessageGroupId="g", MessageDeduplicationId="d0")
    assert seqs == sorted(seqs)
    got = []
    for _ in range(30):
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            got.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(got) >= 5 and not msgs:
            break
    assert sorted(got) == [f"m{i}" for i in range(5)]  # the duplicate was dropped


def confirmed(sns, topic: str, hook) -> str:
    """Waits for the SubscriptionConfirmation to reach `hook` and for the subscriber's visit to
    SubscribeURL to confirm it; the subscription's ARN."""
    hook.wait_for(lambda rec: any(h.get("x-amz-sns-message-type") == "SubscriptionConfirmation"
                                  for h, _ in rec))
    for _ in range(50):
        arn = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"]
        if arn != "PendingConfirmation":
            return arn
        time.sleep(0.1)
    return arn


def test_http_subscription_confirms_verifies_and_retries(sns, test_ca):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    ca = (test_ca / "ca.pem").read_bytes()
    with Subscriber(ca, fail_first=2) as hook:
        r = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url,
                          Attributes={"DeliveryPolicy": json.dumps(
                              {"healthyRetryPolicy": {"numRetries": 3, "minDelayTarget": 1, "maxDelayTarget": 2}})})
        assert r["SubscriptionArn"] == "pending confirmation"
        sub_arn = confirmed(sns, topic, hook)
        assert sub_arn.startswith(topic + ":")
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
        assert attrs["PendingConfirmation"] == "false"
        sns.publish(TopicArn=topic, Message="over http", Subject="s")
        hook.wait_for(lambda rec: any(h.get("x-amz-sns-message-type") == "Notification" for h, _ in rec))
        (note,) = hook.of_type("Notification")
        assert note["Message"] == "over http"
        assert hook.attempts == 3          # two failures answered 500, then delivered
        assert hook.verified == 2          # confirmation and notification both verified against the CA
        assert hook.received[-1][0]["x-amz-sns-subscription-arn"] == sub_arn
        sns.unsubscribe(SubscriptionArn=sub_arn)
        hook.wait_for(lambda rec: any(h.get("x-amz-sns-message-type") == "UnsubscribeConfirmation"
                                      for h, _ in rec))
        assert hook.of_type("UnsubscribeConfirmation")
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_subscription_attributes_and_unsubscribe(sns, sqs):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    _, arn = make_queue(sqs)
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps({"a": ["b"]}))
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": arn}))
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert json.loads(attrs["FilterPolicy"]) == {"a": ["b"]}
    assert attrs["FilterPolicyScope"] == "MessageAttributes"
    assert attrs["Protocol"] == "sqs" and attrs["Endpoint"] == arn
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                        AttributeValue="maybe")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                        AttributeValue="Elsewhere")
    sns.unsubscribe(SubscriptionArn=sub)
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_subscription_attributes(SubscriptionArn=sub)


def test_signing_cert_served_and_auth(sns_service, test_ca):
    import requests
    r = requests.post(sns_service.endpoint + "/", data={"Action": "ListTopics"}, timeout=10)
    assert r.status_code == 403 and "MissingAuthenticationToken" in r.text
    from .subscriber import Subscriber  # noqa: F401
    from tests.integration.services.sqs.procs import client
    bad = client("sns", sns_service.endpoint, secret="wrong")
    with pytest.raises(ClientError) as e:
        bad.list_topics()
    assert code(e) == "SignatureDoesNotMatch"


def test_failed_deliveries_go_to_subscription_dead_letter_queue(sns, sqs, test_ca):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    dlq_url, dlq_arn = make_queue(sqs)
    with Subscriber((test_ca / "ca.pem").read_bytes(), fail_first=10**6) as hook:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
            "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
                "numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}})})
        assert confirmed(sns, topic, hook) != "PendingConfirmation"
        mid = sns.publish(TopicArn=topic, Message="undeliverable")["MessageId"]
        (m,) = drain(sqs, dlq_url, 1)
        doc = json.loads(m["Body"])
        assert doc["MessageId"] == mid and doc["Message"] == "undeliverable"
        assert hook.attempts == 2  # the first try and one retry, then the dead-letter queue


def test_https_subscriber_with_cloud_ca(sns, test_ca):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    tls = (str(test_ca / "web.pem"), str(test_ca / "web.key"))
    with Subscriber((test_ca / "ca.pem").read_bytes(), tls=tls) as hook:
        assert hook.url.startswith("https://")
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=hook.url)
        assert confirmed(sns, topic, hook) != "PendingConfirmation"
        sns.publish(TopicArn=topic, Message="over https")
        hook.wait_for(lambda rec: any(h.get("x-amz-sns-message-type") == "Notification" for h, _ in rec))
        assert [n["Message"] for n in hook.of_type("Notification")] == ["over https"]
        assert hook.verified == 2


def test_a_delivery_given_up_without_a_dead_letter_queue_says_so_in_the_log(sns, sns_service, test_ca):
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    with Subscriber((test_ca / "ca.pem").read_bytes(), fail_first=10**6) as hook:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url, Attributes={
            "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
                "numRetries": 0, "minDelayTarget": 1, "maxDelayTarget": 1}})})
        assert confirmed(sns, topic, hook) != "PendingConfirmation"
        mid = sns.publish(TopicArn=topic, Message="nobody takes it")["MessageId"]
        log = sns_service.log_path
        for _ in range(100):
            if f"Notification {mid} " in log.read_text():
                break
            time.sleep(0.1)
        line = next(x for x in log.read_text().splitlines() if f"Notification {mid} " in x)
        assert "dropped after 1 attempts" in line and "no dead-letter queue" in line


def test_without_an_sqs_endpoint_sqs_subscriptions_are_refused(nats_server, sqs, test_ca, tmp_path):
    from tests.integration.services.sqs.procs import Service, client, write_credentials
    creds = write_credentials(tmp_path / "credentials")
    svc = Service("services.sns", [
        "--nats", nats_server.url, "--credentials", str(creds),
        "--signing-cert", str(test_ca / "sns.pem"), "--signing-key", str(test_ca / "sns.key")],
        tmp_path / "sns.log").start()
    try:
        alone = client("sns", svc.endpoint)
        topic = alone.create_topic(Name=uniq())["TopicArn"]
        _, arn = make_queue(sqs)
        with pytest.raises(ClientError) as e:
            alone.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        assert code(e) == "InvalidParameter" and "--sqs-endpoint" in str(e.value)
    finally:
        svc.stop()
