"""The older query/XML protocol (aws-cli v1, older SDKs), signed with botocore's SigV4 signer."""

import hashlib
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .procs import ACCESS_KEY, SECRET_KEY

pytestmark = pytest.mark.integration
NS = {"s": "http://queue.amazonaws.com/doc/2012-11-05/"}


def call(endpoint, params, path="/", secret=SECRET_KEY, method="POST"):
    params = {"Version": "2012-11-05", **params}
    if method == "POST":
        req = AWSRequest(method="POST", url=endpoint + path, data=params,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    else:
        req = AWSRequest(method="GET", url=endpoint + path, params=params)
    SigV4Auth(Credentials(ACCESS_KEY, secret), "sqs", "us-east-1").add_auth(req)
    prepared = req.prepare()
    r = requests.request(prepared.method, prepared.url, headers=dict(prepared.headers),
                         data=prepared.body, timeout=30)
    return r.status_code, ET.fromstring(r.text)


def text(root, path):
    node = root.find(path, NS)
    return None if node is None else node.text


def test_query_roundtrip(sqs_service):
    ep = sqs_service.endpoint
    n = f"xq-{uuid.uuid4().hex[:8]}"
    status, root = call(ep, {"Action": "CreateQueue", "QueueName": n,
                             "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "40",
                             "Tag.1.Key": "k", "Tag.1.Value": "v"})
    assert status == 200
    url = text(root, "s:CreateQueueResult/s:QueueUrl")
    assert url.endswith("/" + n)
    path = "/" + url.split("/", 3)[3]
    status, root = call(ep, {"Action": "SendMessage", "MessageBody": "hi <xml> & stuff",
                             "MessageAttribute.1.Name": "a",
                             "MessageAttribute.1.Value.DataType": "String",
                             "MessageAttribute.1.Value.StringValue": "x"}, path=path)
    assert status == 200
    assert text(root, "s:SendMessageResult/s:MD5OfMessageBody") == hashlib.md5(b"hi <xml> & stuff", usedforsecurity=False).hexdigest()
    status, root = call(ep, {"Action": "ReceiveMessage", "QueueUrl": url, "AttributeName.1": "All",
                             "MessageAttributeName.1": "All"}, method="GET")
    msg = root.find("s:ReceiveMessageResult/s:Message", NS)
    assert text(msg, "s:Body") == "hi <xml> & stuff"
    attrs = {text(a, "s:Name"): text(a, "s:Value") for a in msg.findall("s:Attribute", NS)}
    assert attrs["ApproximateReceiveCount"] == "1"
    ma = msg.find("s:MessageAttribute", NS)
    assert text(ma, "s:Name") == "a" and text(ma, "s:Value/s:StringValue") == "x"
    status, root = call(ep, {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "All"})
    got = {text(a, "s:Name"): text(a, "s:Value")
           for a in root.findall("s:GetQueueAttributesResult/s:Attribute", NS)}
    assert got["VisibilityTimeout"] == "40"
    status, root = call(ep, {"Action": "ListQueueTags", "QueueUrl": url})
    assert text(root, "s:ListQueueTagsResult/s:Tag/s:Key") == "k"
    status, root = call(ep, {"Action": "DeleteMessageBatch", "QueueUrl": url,
                             "DeleteMessageBatchRequestEntry.1.Id": "one",
                             "DeleteMessageBatchRequestEntry.1.ReceiptHandle": text(msg, "s:ReceiptHandle"),
                             "DeleteMessageBatchRequestEntry.2.Id": "two",
                             "DeleteMessageBatchRequestEntry.2.ReceiptHandle": "junk"})
    assert text(root, "s:DeleteMessageBatchResult/s:DeleteMessageBatchResultEntry/s:Id") == "one"
    assert text(root, "s:DeleteMessageBatchResult/s:BatchResultErrorEntry/s:Code") == "ReceiptHandleIsInvalid"
    status, root = call(ep, {"Action": "ListQueues", "QueueNamePrefix": n})
    assert [u.text for u in root.findall("s:ListQueuesResult/s:QueueUrl", NS)] == [url]


def test_query_errors(sqs_service):
    ep = sqs_service.endpoint
    status, root = call(ep, {"Action": "GetQueueUrl", "QueueName": "missing-" + uuid.uuid4().hex[:6]})
    assert status == 400
    assert text(root, "s:Error/s:Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert text(root, "s:Error/s:Type") == "Sender"
    status, root = call(ep, {"Action": "CreateQueue"})
    assert (status, text(root, "s:Error/s:Code")) == (400, "MissingParameter")
    status, root = call(ep, {"Action": "NoSuchAction"})
    assert (status, text(root, "s:Error/s:Code")) == (400, "InvalidAction")
    status, root = call(ep, {"Action": "ListQueues"}, secret="wrong")
    assert (status, text(root, "s:Error/s:Code")) == (403, "SignatureDoesNotMatch")
    n = f"xq-{uuid.uuid4().hex[:8]}"
    status, root = call(ep, {"Action": "CreateQueue", "QueueName": n})
    url = text(root, "s:CreateQueueResult/s:QueueUrl")
    status, root = call(ep, {"Action": "ChangeMessageVisibility", "QueueUrl": url, "ReceiptHandle": "x"})
    assert (status, text(root, "s:Error/s:Code")) == (400, "MissingParameter")
    status, root = call(ep, {"Action": "CreateQueue", "QueueName": n,
                             "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "99"})
    assert (status, text(root, "s:Error/s:Code")) == (400, "QueueAlreadyExists")
