"""boto3 against the SQS service: messages, visibility, batches, FIFO, delay, redrive."""

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def new_queue(sqs, fifo=False, **attrs):
    n = f"m-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
    if fifo:
        attrs["FifoQueue"] = "true"
    return sqs.create_queue(QueueName=n, Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]


def receive_all(sqs, url, expect, **kw):
    got = []
    for _ in range(40):
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kw)
        got.extend(r.get("Messages", []))
        if len(got) >= expect:
            break
    return got


def test_send_receive_delete_with_attributes(sqs):
    url = new_queue(sqs)
    attrs = {"s": {"DataType": "String", "StringValue": "héllo"},
             "n": {"DataType": "Number", "StringValue": "42"},
             "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
             "c": {"DataType": "String.custom", "StringValue": "v"}}
    # boto3 verifies MD5OfMessageBody and MD5OfMessageAttributes itself on send and receive.
    sent = sqs.send_message(QueueUrl=url, MessageBody="body ☃", MessageAttributes=attrs)
    r = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"],
                            MessageSystemAttributeNames=["All"])
    (m,) = r["Messages"]
    assert m["MessageId"] == sent["MessageId"]
    assert m["Body"] == "body ☃"
    assert m["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01\xff"
    assert m["MessageAttributes"]["n"]["StringValue"] == "42"
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(m["Attributes"]["SentTimestamp"]) > 0
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_attribute_name_selection(sqs):
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
        "foo.a": {"DataType": "String", "StringValue": "1"},
        "bar": {"DataType": "String", "StringValue": "2"}})
    (m,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["foo.*"])["Messages"]
    assert set(m["MessageAttributes"]) == {"foo.a"}
    assert "Attributes" not in m


@pytest.mark.parametrize("kwargs, expected", [
    ({"MessageBody": ""}, "MissingParameter"),
    ({"MessageBody": "bad \x01 char"}, "InvalidMessageContents"),
    ({"MessageBody": "x", "DelaySeconds": 901}, "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageAttributes": {"a": {"DataType": "String", "StringValue": ""}}},
     "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageAttributes": {"a": {"DataType": "Number", "StringValue": "abc"}}},
     "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageAttributes": {"a": {"DataType": "Weird", "StringValue": "1"}}},
     "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageDeduplicationId": "d"}, "InvalidParameterValue"),
])
def test_send_errors(sqs, kwargs, expected):
    url = new_queue(sqs)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, **kwargs)
    assert e.value.response["Error"]["Code"] == expected
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_message_too_large(sqs):
    url = new_queue(sqs, MaximumMessageSize=1024)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_a_message_of_the_largest_size_is_stored_and_received_whole(sqs):
    # 1 MiB of a two-byte character: its JSON envelope is three times that, past NATS's default
    # max_payload (a 500 before the deployed config raised it).
    url = new_queue(sqs)
    body = "é" * (1048576 // 2)
    sqs.send_message(QueueUrl=url, MessageBody=body)
    (m,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert m["Body"] == body  # boto3 checked its MD5 too


def test_receive_parameter_errors(sqs):
    url = new_queue(sqs)
    for kw in ({"MaxNumberOfMessages": 11}, {"WaitTimeSeconds": 21}, {"VisibilityTimeout": -1}):
        with pytest.raises(ClientError) as e:
            sqs.receive_message(QueueUrl=url, **kw)
        assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_visibility_timeout_and_change(sqs):
    url = new_queue(sqs, VisibilityTimeout=1)
    sqs.send_message(QueueUrl=url, MessageBody="v")
    (m,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # in flight: invisible
    again = receive_all(sqs, url, 1, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert again[0]["MessageId"] == m["MessageId"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    # extend, then make visible at once
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"],
                                  VisibilityTimeout=600)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"],
                                  VisibilityTimeout=0)
    third = receive_all(sqs, url, 1)
    assert third[0]["MessageId"] == m["MessageId"]


def test_receive_visibility_override(sqs):
    url = new_queue(sqs, VisibilityTimeout=600)
    sqs.send_message(QueueUrl=url, MessageBody="o")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    again = receive_all(sqs, url, 1)
    assert again[0]["MessageId"] == first["MessageId"]


def test_invalid_receipt_handle(sqs):
    url = new_queue(sqs)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="Zm9v", VisibilityTimeout=5)
    other = new_queue(sqs)
    sqs.send_message(QueueUrl=other, MessageBody="x")
    h = sqs.receive_message(QueueUrl=other)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):  # a handle of another queue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=h)


def test_batches(sqs):
    url = new_queue(sqs)
    entries = [{"Id": f"e{i}", "MessageBody": f"b{i}"} for i in range(10)]
    r = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(s["Id"] for s in r["Successful"]) == sorted(e["Id"] for e in entries)
    msgs = receive_all(sqs, url, 10)
    assert sorted(m["Body"] for m in msgs) == sorted(f"b{i}" for i in range(10))
    cr = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": msgs[0]["ReceiptHandle"], "VisibilityTimeout": 100},
        {"Id": "b", "ReceiptHandle": "bogus", "VisibilityTimeout": 100}])
    assert [s["Id"] for s in cr["Successful"]] == ["a"]
    assert cr["Failed"][0]["Code"] == "ReceiptHandleIsInvalid" and cr["Failed"][0]["SenderFault"]
    dr = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
    assert len(dr["Successful"]) == 10 and not dr.get("Failed")


def test_batch_partial_failure_and_errors(sqs):
    url = new_queue(sqs)
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": "\x02"}])
    assert [s["Id"] for s in r["Successful"]] == ["ok"]
    assert r["Failed"][0]["Id"] == "bad" and r["Failed"][0]["Code"] == "InvalidMessageContents"
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"},
                                                     {"Id": "a", "MessageBody": "2"}])
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"i{i}", "MessageBody": "1"}
                                                     for i in range(11)])
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.delete_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "bad id!", "MessageBody": "1"}])


def test_long_poll_wakes_on_send(sqs, sqs_service):
    import threading
    from .procs import client
    url = new_queue(sqs)
    result = {}

    def poll():
        result["r"] = client("sqs", sqs_service.endpoint).receive_message(QueueUrl=url, WaitTimeSeconds=20)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake")
    t.join(30)
    assert result["r"]["Messages"][0]["Body"] == "wake"


def test_delay_seconds(sqs):
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=4)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["now"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    later = receive_all(sqs, url, 1, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert later[0]["Body"] == "later"
    assert later[0]["Attributes"]["ApproximateReceiveCount"] == "1"


def test_purge_and_counts(sqs):
    url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "p"} for i in range(5)])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "3"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "2"
    sqs.purge_queue(QueueUrl=url)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_fifo_order_group_lock_and_dedup(sqs):
    url = new_queue(sqs, fifo=True)
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="A", MessageDeduplicationId=f"a{i}")
    sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="B", MessageDeduplicationId="b0")
    dup = sqs.send_message(QueueUrl=url, MessageBody="a0 again", MessageGroupId="A", MessageDeduplicationId="a0")
    assert dup["SequenceNumber"]
    seen_a = []
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                MessageSystemAttributeNames=["All"])["Messages"]
    # at most one message per group in flight
    groups = [m["Attributes"]["MessageGroupId"] for m in first]
    assert sorted(groups) == ["A", "B"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    for m in first:
        if m["Attributes"]["MessageGroupId"] == "A":
            seen_a.append(m["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    while len(seen_a) < 5:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        assert len(msgs) <= 1
        for m in msgs:
            seen_a.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert seen_a == [f"a{i}" for i in range(5)]  # in order, and the duplicate never delivered
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_fifo_redelivery_keeps_order(sqs):
    url = new_queue(sqs, fifo=True, VisibilityTimeout=1, ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="second", MessageGroupId="g")
    m1 = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert m1["Body"] == "first"
    again = receive_all(sqs, url, 1)
    assert again[0]["Body"] == "first"  # the expired head comes back before the next one


def test_fifo_errors(sqs):
    url = new_queue(sqs, fifo=True)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert e.value.response["Error"]["Code"] == "MissingParameter"
    with pytest.raises(ClientError) as e:  # no dedup id and no content-based dedup
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                         MessageDeduplicationId="d", DelaySeconds=5)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_fifo_content_based_dedup_batch(sqs):
    url = new_queue(sqs, fifo=True, ContentBasedDeduplication="true")
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "1", "MessageBody": "same", "MessageGroupId": "g"},
        {"Id": "2", "MessageBody": "same", "MessageGroupId": "g"},
        {"Id": "3", "MessageBody": "other", "MessageGroupId": "g"}])
    assert len(r["Successful"]) == 3
    bodies = []
    for _ in range(4):
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == ["same", "other"]


def test_redrive_to_dead_letter_queue_and_move_back(sqs):
    dlq = new_queue(sqs)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = new_queue(sqs, VisibilityTimeout=0,
                    RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=src, MessageBody="poison")
    counts = []
    for _ in range(10):
        msgs = sqs.receive_message(QueueUrl=src, MessageSystemAttributeNames=["ApproximateReceiveCount"],
                                   WaitTimeSeconds=1).get("Messages", [])
        if not msgs and counts:
            break
        counts += [m["Attributes"]["ApproximateReceiveCount"] for m in msgs]
    assert counts == ["1", "2"]
    moved = receive_all(sqs, dlq, 1, MessageSystemAttributeNames=["All"])
    assert moved[0]["Body"] == "poison"
    assert moved[0]["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=moved[0]["ReceiptHandle"], VisibilityTimeout=0)

    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    for _ in range(50):
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if tasks[0]["Status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert tasks[0]["Status"] == "COMPLETED"
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    back = receive_all(sqs, src, 1)
    assert back[0]["Body"] == "poison"
    with pytest.raises(sqs.exceptions.ResourceNotFoundException):
        sqs.cancel_message_move_task(TaskHandle="nope")
    with pytest.raises(sqs.exceptions.ResourceNotFoundException):
        sqs.start_message_move_task(SourceArn=dlq_arn + "-missing")
