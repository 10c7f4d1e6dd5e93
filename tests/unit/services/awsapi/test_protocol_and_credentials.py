import json
import xml.etree.ElementTree as ET

import botocore.session
import pytest
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer

from services.awsapi import protocol
from services.awsapi.credentials import load_credentials
from services.awsapi.errors import AwsError


def test_credentials_ini(tmp_path):
    f = tmp_path / "creds"
    f.write_text("[default]\naws_access_key_id = A1\naws_secret_access_key = s1\n"
                 "[profile other]\naws_access_key_id=A2\naws_secret_access_key=s%2\n[empty]\nregion=x\n")
    assert load_credentials(f) == {"A1": "s1", "A2": "s%2"}
    (tmp_path / "none").write_text("[x]\n")
    with pytest.raises(ValueError):
        load_credentials(tmp_path / "none")


def test_query_folding_with_renames():
    params = {"Action": "SendMessageBatch", "Version": "2012-11-05",
              "SendMessageBatchRequestEntry.2.Id": "b", "SendMessageBatchRequestEntry.1.Id": "a",
              "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "n",
              "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "String",
              "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": "v"}
    renames = {"SendMessageBatchRequestEntry": ("Entries", "list"),
               "MessageAttribute": ("MessageAttributes", "map")}
    action, folded = protocol.parse_query(params, renames)
    assert action == "SendMessageBatch"
    assert folded == {"Entries": [
        {"Id": "a", "MessageAttributes": {"n": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "b"}]}


def test_query_folding_matches_botocore_sns_serializer():
    # What boto3 sends for SNS (member/entry lists and maps) folds back into the original input.
    model = botocore.session.get_session().get_service_model("sns")
    op = model.operation_model("PublishBatch")
    original = {"TopicArn": "arn:aws:sns:us-east-1:0:t", "PublishBatchRequestEntries": [
        {"Id": "1", "Message": "m", "MessageAttributes": {
            "a": {"DataType": "String", "StringValue": "x"}}}]}
    body = QuerySerializer().serialize_to_request(original, op)["body"]
    action, folded = protocol.parse_query(body)
    assert action == "PublishBatch"
    assert folded == original


def test_missing_action():
    with pytest.raises(AwsError) as e:
        protocol.parse_query({})
    assert e.value.code == "MissingAction"


def test_xml_rendering_parses_with_botocore():
    model = botocore.session.get_session().get_service_model("sns")
    op = model.operation_model("ListTopics")
    xml = protocol.render_xml("ListTopics", {"Topics": [{"TopicArn": "a&b"}], "NextToken": "t"},
                              "http://sns.amazonaws.com/doc/2010-03-31/", "rid")
    parsed = QueryParser().parse({"body": xml.encode(), "headers": {}, "status_code": 200},
                                 op.output_shape)
    assert parsed["Topics"] == [{"TopicArn": "a&b"}] and parsed["NextToken"] == "t"
    op = model.operation_model("GetTopicAttributes")
    xml = protocol.render_xml("GetTopicAttributes", {"Attributes": {"Policy": "<p>", "Owner": "1"}},
                              "ns", "rid")
    parsed = QueryParser().parse({"body": xml.encode(), "headers": {}, "status_code": 200},
                                 op.output_shape)
    assert parsed["Attributes"] == {"Policy": "<p>", "Owner": "1"}


def test_error_rendering():
    err = AwsError("QueueDoesNotExist", "nope <", query_code="AWS.SimpleQueueService.NonExistentQueue")
    root = ET.fromstring(protocol.render_xml_error(err, "rid", "ns"))
    assert root.find("{ns}Error/{ns}Code").text == "AWS.SimpleQueueService.NonExistentQueue"
    assert root.find("{ns}Error/{ns}Message").text == "nope <"
    body, headers = protocol.render_json_error(err, "com.amazonaws.sqs")
    assert body["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"


def test_json_parsing_errors():
    assert protocol.parse_json("AmazonSQS.ListQueues", "AmazonSQS", b"") == ("ListQueues", {})
    with pytest.raises(AwsError) as e:
        protocol.parse_json("AmazonSQS.ListQueues", "AmazonSQS", b"{nope")
    assert e.value.code == "SerializationException"
    with pytest.raises(AwsError):
        protocol.parse_json("Other.ListQueues", "AmazonSQS", json.dumps({}).encode())


@pytest.mark.parametrize("body, query", [
    (b"Action=ListQueues&QueueNamePrefix=\xff", ""),      # a raw byte that is not UTF-8
    (b"Action=ListQueues&QueueNamePrefix=%FF", ""),       # the same, percent-encoded
    (b"Action=ListQueues&QueueNamePrefix=%ED%A0%80", ""),  # an encoded surrogate
    (b"Action=ListQueues", "QueueNamePrefix=%C3"),         # a truncated sequence in the query
])
def test_form_that_is_not_utf8_is_a_malformed_query(body, query):
    with pytest.raises(AwsError) as e:
        protocol.parse_form(body, query)
    assert (e.value.code, e.value.status) == ("MalformedQueryString", 400)


def test_form_with_utf8_still_parses():
    assert protocol.parse_form("Action=SendMessage&MessageBody=é%C3%A9+x".encode(), "A=%E2%82%AC") == {
        "A": "€", "Action": "SendMessage", "MessageBody": "éé x"}


def test_deeply_nested_query_key_is_malformed():
    with pytest.raises(AwsError) as e:
        protocol.parse_query({"Action": "ListQueues", ".".join(["a"] * 5000): "x"})
    assert e.value.code == "MalformedQueryString"


@pytest.mark.parametrize("body", [
    b"[]", b'"x"', b"5", b"null", b"{", b'{"a": "\xff"}', b'{"a": NaN}', b'{"a": Infinity}',
    b"[" * 100000, b'{"QueueName": "\\ud800"}', b'{"QueueName": "x\\udc00y"}',
    '{"a": 1}'.encode("utf-16"),
])
def test_json_body_must_be_a_utf8_object_of_text(body):
    with pytest.raises(AwsError) as e:
        protocol.parse_json("AmazonSQS.ListQueues", "AmazonSQS", body)
    assert (e.value.code, e.value.status) == ("SerializationException", 400)


def test_json_keeps_escaped_non_bmp_characters():
    action, params = protocol.parse_json("AmazonSQS.SendMessage", "AmazonSQS",
                                         json.dumps({"MessageBody": "smile \U0001F600"}).encode())
    assert action == "SendMessage" and params == {"MessageBody": "smile \U0001F600"}


def test_request_ids_are_random_version_4_uuids():
    import uuid
    ids = {protocol.new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert (str(parsed), parsed.version, parsed.variant) == (rid, 4, uuid.RFC_4122)
