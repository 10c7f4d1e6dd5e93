"""Parameter types checked against botocore's model before a handler sees them."""

import json

import botocore.session
import pytest
from botocore.serialize import create_serializer

from services.awsapi import protocol
from services.awsapi.errors import AwsError
from services.awsapi.shapes import ParameterTypes
from services.sqs.wire import QUERY_IN

SQS = ParameterTypes.for_service("sqs")
SNS = ParameterTypes.for_service("sns")
URL = "http://h/000000000000/q"


def refusal(types, action, params, is_json) -> AwsError:
    with pytest.raises(AwsError) as e:
        types.check(action, params, is_json)
    return e.value


@pytest.mark.parametrize("action, params", [
    ("SendMessage", {"QueueUrl": {"a": 1}, "MessageBody": "x"}),
    ("SendMessage", {"QueueUrl": URL, "MessageBody": ["x"]}),
    ("SendMessage", {"QueueUrl": URL, "MessageBody": "x", "DelaySeconds": "5"}),
    ("SendMessage", {"QueueUrl": URL, "MessageBody": "x", "DelaySeconds": True}),
    ("SendMessage", {"QueueUrl": URL, "MessageBody": "x", "MessageAttributes": {"a": "b"}}),
    ("SendMessageBatch", {"QueueUrl": URL, "Entries": "abc"}),
    ("SendMessageBatch", {"QueueUrl": URL, "Entries": [{"Id": 1, "MessageBody": "x"}]}),
    ("CreateQueue", {"QueueName": "q", "Tags": "x"}),  # the query protocol's name for "tags"
    ("ReceiveMessage", {"QueueUrl": URL, "AttributeNames": "All"}),
])
def test_json_type_confusion_is_a_serialization_error(action, params):
    err = refusal(SQS, action, params, is_json=True)
    assert (err.code, err.status) == ("SerializationException", 400)


def test_query_values_are_text_and_folded_containers():
    # "QueueUrl.1=x" folds into an object where a string belongs
    action, params = protocol.parse_query({"Action": "SendMessage", "QueueUrl.1": "x", "MessageBody": "b"},
                                          QUERY_IN)
    err = refusal(SQS, action, params, is_json=False)
    assert (err.code, err.status) == ("InvalidParameterValue", 400) and "QueueUrl" in err.message
    action, params = protocol.parse_query({"Action": "CreateTopic", "Name.member.1": "t"})
    assert refusal(SNS, action, params, is_json=False).code == "InvalidParameterValue"
    SQS.check("ReceiveMessage", {"QueueUrl": URL, "MaxNumberOfMessages": "5"}, is_json=False)


def test_unknown_members_and_actions_and_nulls_pass():
    SQS.check("SendMessage", {"QueueUrl": URL, "MessageBody": "x", "Whatever": {"a": []},
                              "DelaySeconds": None}, is_json=True)
    SQS.check("NoSuchAction", {"QueueUrl": {}}, is_json=True)


def _model(name):
    return botocore.session.get_session().get_service_model(name)


def test_what_botocore_serializes_passes():
    sqs = _model("sqs")
    batch = {"QueueUrl": URL, "Entries": [{
        "Id": "a", "MessageBody": "x", "DelaySeconds": 3,
        "MessageAttributes": {"n": {"DataType": "Binary", "BinaryValue": b"\x00",
                                    "StringListValues": ["s"]}}}]}
    body = create_serializer("json").serialize_to_request(batch, sqs.operation_model("SendMessageBatch"))["body"]
    SQS.check("SendMessageBatch", json.loads(body), is_json=True)
    sns = _model("sns")
    publish = {"TopicArn": "arn:aws:sns:us-east-1:0:t", "PublishBatchRequestEntries": [
        {"Id": "1", "Message": "m", "MessageAttributes": {"a": {"DataType": "Number", "StringValue": "1"}}}]}
    body = create_serializer("query").serialize_to_request(publish, sns.operation_model("PublishBatch"))["body"]
    action, params = protocol.parse_query(body)
    SNS.check(action, params, is_json=False)
    SNS.check("PublishBatch", {"TopicArn": "t", "PublishBatchRequestEntries": ""}, is_json=False)
