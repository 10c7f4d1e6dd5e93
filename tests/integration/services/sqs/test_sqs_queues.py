"""boto3 (JSON protocol) against the SQS service: queue-level actions and their errors."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from .procs import client

pytestmark = pytest.mark.integration


def name(prefix="q"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_create_get_list_delete(sqs):
    n = name()
    url = sqs.create_queue(QueueName=n)["QueueUrl"]
    assert url.endswith(f"/000000000000/{n}")
    assert sqs.create_queue(QueueName=n)["QueueUrl"] == url  # idempotent
    assert sqs.get_queue_url(QueueName=n)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=n)["QueueUrls"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=n)
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=n)


def test_recreated_queue_starts_empty(sqs):
    n = name()
    url = sqs.create_queue(QueueName=n)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    sqs.delete_queue(QueueUrl=url)
    assert sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "5"})["QueueUrl"] == url
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"]["VisibilityTimeout"] == "5"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="new")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "new"


def test_list_queues_paginates(sqs):
    prefix = name("page")
    for i in range(3):
        sqs.create_queue(QueueName=f"{prefix}-{i}")
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert len(first["QueueUrls"]) == 2 and first["NextToken"]
    second = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    assert [u.rsplit("-", 1)[1] for u in second["QueueUrls"]] == ["2"]


def test_create_with_other_attributes_is_queue_name_exists(sqs):
    n = name()
    sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "10"})
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "20"})


@pytest.mark.parametrize("bad", ["", "has space", "x" * 81, "dot.name", "a.fifo"])
def test_bad_queue_names(sqs, bad):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=bad)
    assert code(e) in ("InvalidParameterValue", "MissingParameter")


def test_fifo_name_rules(sqs):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name(), Attributes={"FifoQueue": "true"})
    assert code(e) == "InvalidParameterValue"
    url = sqs.create_queue(QueueName=name() + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"


def test_attributes_roundtrip_and_errors(sqs):
    url = sqs.create_queue(QueueName=name(), Attributes={"DelaySeconds": "2"})["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45",
                                                       "MaximumMessageSize": "2048"})
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["MaximumMessageSize"] == "2048"
    assert attrs["DelaySeconds"] == "2"
    assert attrs["QueueArn"].endswith(":" + url.rsplit("/", 1)[1])
    only = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert only == {"VisibilityTimeout": "45"}
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Bogus": "1"})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "50000"})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": "not json"})
    with pytest.raises(sqs.exceptions.InvalidAttributeName):  # FIFO-only attribute
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"})


def test_missing_queue_errors(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"].rsplit("/", 1)[0] + "/does-not-exist"
    for call in (lambda: sqs.send_message(QueueUrl=url, MessageBody="x"),
                 lambda: sqs.receive_message(QueueUrl=url),
                 lambda: sqs.purge_queue(QueueUrl=url),
                 lambda: sqs.delete_queue(QueueUrl=url),
                 lambda: sqs.get_queue_attributes(QueueUrl=url)):
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            call()


def test_tags(sqs):
    url = sqs.create_queue(QueueName=name(), tags={"team": "infra"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"env": "lab", "x": "1"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["x"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "infra", "env": "lab"}


def test_dead_letter_source_queues(sqs):
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName=name("src"), Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})})["QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name(), Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arn + "-missing", "maxReceiveCount": 2})})
    assert code(e) == "InvalidParameterValue"


def test_auth_errors(sqs_service):
    bad_key = client("sqs", sqs_service.endpoint, key="AKIDUNKNOWN", secret="x")
    with pytest.raises(ClientError) as e:
        bad_key.list_queues()
    assert code(e) == "InvalidClientTokenId"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    bad_secret = client("sqs", sqs_service.endpoint, secret="wrong")
    with pytest.raises(ClientError) as e:
        bad_secret.list_queues()
    assert code(e) == "SignatureDoesNotMatch"


def test_unsigned_request_rejected(sqs_service):
    import requests
    r = requests.post(sqs_service.endpoint + "/", data={"Action": "ListQueues"}, timeout=10)
    assert r.status_code == 403
    assert "<Code>MissingAuthenticationToken</Code>" in r.text
