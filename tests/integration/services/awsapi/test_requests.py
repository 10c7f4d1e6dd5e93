"""Request handling of the real SQS and SNS processes (services/awsapi) against malformed,
oversized, slow and too many requests: raw sockets where a client would not send such a thing,
boto3 where a real client is meant."""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.integration.services.sns import conftest as sns_fixtures
from tests.integration.services.sqs import conftest as sqs_fixtures
from tests.integration.services.sqs.procs import (ACCESS_KEY, SECRET_KEY, Service, client,
                                                  write_credentials)

pytestmark = pytest.mark.integration

# the real services and nats-server, as the SQS and SNS tests start them
nats_server = sqs_fixtures.nats_server
sqs_service = sqs_fixtures.sqs_service
test_ca = sns_fixtures.test_ca
sns_service = sns_fixtures.sns_service

FORM = "application/x-www-form-urlencoded; charset=utf-8"
JSON = "application/x-amz-json-1.0"
SQS_MAX_BODY = 12 * 1024 * 1024

# the limits of the `limited_sqs` process (seconds, connections)
HEADER_TIMEOUT, BODY_TIMEOUT, IDLE_TIMEOUT = 1.0, 2.0, 5.0
MAX_CONNECTIONS, MAX_PER_PEER = 7, 3


@pytest.fixture(scope="module")
def limited_sqs(nats_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("limited-sqs")
    creds = write_credentials(d / "credentials")
    svc = Service("services.sqs", [
        "--nats", nats_server.url, "--credentials", str(creds),
        "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
        "--idle-timeout", str(IDLE_TIMEOUT), "--max-connections", str(MAX_CONNECTIONS),
        "--max-connections-per-peer", str(MAX_PER_PEER), "--log-level", "INFO"], d / "sqs.log").start()
    yield svc
    svc.stop()


# --- helpers ----------------------------------------------------------------------------------

def sign(endpoint: str, body: bytes = b"", *, target: str | None = None, method: str = "POST",
         path: str = "/", secret: str = SECRET_KEY, key: str = ACCESS_KEY, service: str = "sqs",
         region: str = "us-east-1", content_type: str | None = None) -> tuple[str, dict[str, str]]:
    """(url, headers) botocore's signer gives the request; Host included for raw sockets."""
    headers = {"Content-Type": content_type or (JSON if target else FORM)}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest(method=method, url=endpoint + path, data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    prepared = req.prepare()
    return prepared.url, {**dict(prepared.headers), "Host": urlsplit(endpoint).netloc}


def connect(service: Service, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=timeout,
                                    source_address=(source, 0))
    sock.settimeout(timeout)
    return sock


def send_head(sock: socket.socket, headers: dict[str, str], method: str = "POST",
              target: str = "/") -> None:
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape"))


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp.status, resp.read()


def error_code(body: bytes) -> str:
    """The error code as an SDK reads it, from an XML or a JSON error ("" for a success)."""
    if body.lstrip().startswith(b"{"):
        return json.loads(body).get("__type", "").rpartition("#")[2]
    code = ET.fromstring(body).find(".//{*}Error/{*}Code")
    return "" if code is None else code.text


def raw_call(service: Service, body: bytes, headers: dict[str, str], method: str = "POST",
             target: str = "/") -> tuple[int, str]:
    with connect(service) as sock:
        send_head(sock, {**headers, "Content-Length": str(len(body))}, method, target)
        sock.sendall(body)
        status, answer = read_response(sock)
    return status, error_code(answer)


def answered_before_body(service: Service, headers: dict[str, str], declared: int) -> tuple[int, str]:
    """Send only the headers of a request declaring `declared` body bytes and read the answer:
    a server that waited for the body would time out here."""
    with connect(service) as sock:
        send_head(sock, {**headers, "Content-Length": str(declared)})
        status, answer = read_response(sock)
    return status, error_code(answer)


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def answers(sock: socket.socket) -> bool:
    """Whether the service answers a request on this connection (any HTTP answer will do)."""
    try:
        send_head(sock, {"Host": "x", "Content-Length": "0"}, method="GET")
        return read_response(sock)[0] > 0
    except (OSError, http.client.HTTPException):
        return False


def new_queue(sqs) -> str:
    return sqs.create_queue(QueueName=f"req-{uuid.uuid4().hex[:10]}")["QueueUrl"]


# --- 1. authentication before the body, the signature before parsing ------------------------

def test_unsigned_request_is_refused_before_its_body(sqs_service):
    status, code = answered_before_body(sqs_service, {"Host": "x", "Content-Type": FORM}, 1_000_000)
    assert (status, code) == (403, "MissingAuthenticationToken")


def test_unknown_key_is_refused_before_the_body(sqs_service):
    body = b"Action=ListQueues"
    _, headers = sign(sqs_service.endpoint, body, key="AKIDNOBODYHAS")
    assert answered_before_body(sqs_service, headers, len(body)) == (403, "InvalidClientTokenId")


def test_malformed_authorization_is_refused_before_the_body(sqs_service):
    headers = {"Host": "x", "Authorization": "AWS4-HMAC-SHA256 Credential=x", "X-Amz-Date": "x"}
    assert answered_before_body(sqs_service, headers, 1_000_000) == (400, "IncompleteSignature")


def test_sns_unsigned_request_too_big_for_an_anonymous_action(sns_service):
    # SNS lets confirm/unsubscribe links through unsigned, but only with a small body.
    status, code = answered_before_body(sns_service, {"Host": "x", "Content-Type": FORM}, 1_000_000)
    assert (status, code) == (403, "MissingAuthenticationToken")
    r = requests.get(sns_service.endpoint + "/", timeout=10, params={
        "Action": "ConfirmSubscription", "TopicArn": "arn:aws:sns:us-east-1:000000000000:none",
        "Token": "t"})
    assert r.status_code == 404 and error_code(r.content) == "NotFound"  # let through, then judged
    r = requests.post(sns_service.endpoint + "/", data={"Action": "ListTopics"}, timeout=10)
    assert r.status_code == 403 and error_code(r.content) == "MissingAuthenticationToken"


def test_signature_is_checked_before_the_body_is_parsed(sqs_service):
    body = b"Action=ListQueues&QueueNamePrefix=\xff"  # unparseable, and signed with a wrong secret
    _, headers = sign(sqs_service.endpoint, body, secret="wrong")
    assert raw_call(sqs_service, body, headers) == (403, "SignatureDoesNotMatch")
    body = b"[]"
    _, headers = sign(sqs_service.endpoint, body, target="AmazonSQS.ListQueues", secret="wrong")
    assert raw_call(sqs_service, body, headers) == (403, "SignatureDoesNotMatch")


# --- 2. the body limit: 413 from Content-Length, and while a chunked body is read --------------

def test_declared_oversized_body_gets_413_before_it_is_sent(sqs_service):
    body = b"Action=ListQueues"
    _, headers = sign(sqs_service.endpoint, body)
    assert answered_before_body(sqs_service, headers, SQS_MAX_BODY + 1) == (413, "RequestEntityTooLarge")


@pytest.mark.parametrize("target", [None, "AmazonSQS.SendMessage"])
def test_chunked_oversized_body_gets_413(sqs_service, target):
    body = b"Action=SendMessage&MessageBody=" + b"x" * SQS_MAX_BODY
    url, headers = sign(sqs_service.endpoint, body, target=target)
    del headers["Content-Length"]  # chunked: the size is unknown until the end

    def chunks():
        for i in range(0, len(body), 1 << 20):
            yield body[i:i + (1 << 20)]

    r = requests.post(url, data=chunks(), headers=headers, timeout=30)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 413 and error_code(r.content) == "RequestEntityTooLarge"
    if target:
        assert r.headers["Content-Type"] == JSON and r.headers["x-amzn-query-error"].startswith(
            "RequestEntityTooLarge;")


def test_body_at_the_limit_is_read(sqs_service):
    sqs = client("sqs", sqs_service.endpoint)
    url = new_queue(sqs)
    body = json.dumps({"QueueUrl": url, "MessageBody": "x" * (2 * 1024 * 1024)}).encode()
    _, headers = sign(sqs_service.endpoint, body, target="AmazonSQS.SendMessage")
    # read and judged by the handler (the message is over the queue's limit), not refused unread
    assert raw_call(sqs_service, body, headers) == (400, "InvalidParameterValue")


# --- 3. undecodable text and type confusion are 400s -----------------------------------------

@pytest.mark.parametrize("body", [
    b"Action=ListQueues&QueueNamePrefix=\xff",
    b"Action=ListQueues&QueueNamePrefix=%FF",
])
def test_query_body_that_is_not_utf8(sqs_service, body):
    _, headers = sign(sqs_service.endpoint, body)
    assert raw_call(sqs_service, body, headers) == (400, "MalformedQueryString")


def test_query_string_that_is_not_utf8(sqs_service):
    target = "/?Action=ListQueues&QueueNamePrefix=%FF"
    _, headers = sign(sqs_service.endpoint, method="GET", path=target)
    assert raw_call(sqs_service, b"", headers, method="GET", target=target) == (400, "MalformedQueryString")


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"{\xff}", b'{"QueueNamePrefix": "\\ud800"}'])
def test_json_body_that_is_not_an_object_of_text(sqs_service, body):
    _, headers = sign(sqs_service.endpoint, body, target="AmazonSQS.ListQueues")
    assert raw_call(sqs_service, body, headers) == (400, "SerializationException")


def test_json_type_confusion(sqs_service):
    url = new_queue(client("sqs", sqs_service.endpoint))
    for target, params in [
        ("AmazonSQS.SendMessage", {"QueueUrl": {"a": 1}, "MessageBody": "x"}),
        ("AmazonSQS.SendMessageBatch", {"QueueUrl": url, "Entries": "abc"}),
        ("AmazonSQS.SendMessageBatch", {"QueueUrl": url, "Entries": [5]}),
        ("AmazonSQS.ListQueues", {"MaxResults": "5"}),
    ]:
        body = json.dumps(params).encode()
        _, headers = sign(sqs_service.endpoint, body, target=target)
        assert raw_call(sqs_service, body, headers) == (400, "SerializationException"), params


def test_query_type_confusion(sqs_service, sns_service):
    body = b"Action=SendMessage&QueueUrl.1=x&MessageBody=m"
    _, headers = sign(sqs_service.endpoint, body)
    assert raw_call(sqs_service, body, headers) == (400, "InvalidParameterValue")
    body = b"Action=CreateTopic&Name.member.1=t"
    _, headers = sign(sns_service.endpoint, body, service="sns")
    assert raw_call(sns_service, body, headers) == (400, "InvalidParameterValue")


def test_real_clients_unaffected(sqs_service, sns_service):
    sqs = client("sqs", sqs_service.endpoint)
    url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "smile \U0001F600",
                                                   "DelaySeconds": 0}])
    (m,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert m["Body"] == "smile \U0001F600"
    sns = client("sns", sns_service.endpoint)
    assert sns.create_topic(Name=f"req-{uuid.uuid4().hex[:8]}", Tags=[{"Key": "k", "Value": "v"}])


# --- 4. the credential's region ----------------------------------------------------------------

@pytest.mark.parametrize("which", ["sqs", "sns"])
def test_signature_for_another_region_is_refused(which, sqs_service, sns_service):
    endpoint = {"sqs": sqs_service, "sns": sns_service}[which].endpoint
    wrong = boto3.client(which, endpoint_url=endpoint, region_name="eu-west-1",
                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                         config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        wrong.list_queues() if which == "sqs" else wrong.list_topics()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert "valid region" in e.value.response["Error"]["Message"]
    right = client(which, endpoint)
    assert (right.list_queues() if which == "sqs" else right.list_topics())["ResponseMetadata"]


# --- 5. presigned URLs live a week at most ----------------------------------------------------

def presigned(endpoint: str, expires: int) -> str:
    req = AWSRequest(method="GET", url=endpoint + "/", params={"Action": "ListQueues"})
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "sqs", "us-east-1", expires=expires).add_auth(req)
    return req.prepare().url


def test_presigned_url_expiry(sqs_service):
    assert requests.get(presigned(sqs_service.endpoint, 604800), timeout=10).status_code == 200
    r = requests.get(presigned(sqs_service.endpoint, 604801), timeout=10)
    assert r.status_code == 400 and error_code(r.content) == "AuthorizationQueryParametersError"
    assert b"X-Amz-Expires must be less than a week (in seconds) that is 604800" in r.content
    for value in ("-5", "abc"):
        url = presigned(sqs_service.endpoint, 60).replace("X-Amz-Expires=60", f"X-Amz-Expires={value}")
        r = requests.get(url, timeout=10)
        assert r.status_code == 400 and error_code(r.content) == "AuthorizationQueryParametersError", value


# --- 6. non-ASCII in the Authorization header ---------------------------------------------------

@pytest.mark.parametrize("signature", ["\u00e9" * 64, "\udcff" * 64])  # UTF-8 é; a raw 0xff byte
def test_non_ascii_signature_is_a_client_error(sqs_service, signature):
    body = b"Action=ListQueues"
    _, headers = sign(sqs_service.endpoint, body)
    auth = headers["Authorization"]
    headers["Authorization"] = auth[:auth.index("Signature=") + len("Signature=")] + signature
    assert raw_call(sqs_service, body, headers) == (400, "IncompleteSignature")


# --- 7. what the signature must cover ----------------------------------------------------------

def test_x_amz_target_must_be_signed(sqs_service):
    sqs = client("sqs", sqs_service.endpoint)
    url = new_queue(sqs)
    body = json.dumps({"QueueUrl": url}).encode()
    _, headers = sign(sqs_service.endpoint, body, content_type=JSON)  # signed without X-Amz-Target ...
    headers["X-Amz-Target"] = "AmazonSQS.DeleteQueue"  # ... which is added after
    assert raw_call(sqs_service, body, headers) == (400, "IncompleteSignature")
    assert sqs.get_queue_attributes(QueueUrl=url)["ResponseMetadata"]  # still there


def test_host_must_be_signed(sqs_service):
    body = b"Action=ListQueues"
    _, headers = sign(sqs_service.endpoint, body)
    headers["Authorization"] = headers["Authorization"].replace(";host;", ";")
    assert raw_call(sqs_service, body, headers) == (400, "IncompleteSignature")


# --- 8. slow clients and too many connections ---------------------------------------------------

def test_trickled_headers_are_cut_off(limited_sqs):
    with connect(limited_sqs) as sock:
        start = time.monotonic()
        closed = False
        for byte in b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - start > HEADER_TIMEOUT + 2:
                break
        closed = closed or closed_by_server(sock)
        elapsed = time.monotonic() - start
    assert closed and elapsed < HEADER_TIMEOUT + 2


def test_idle_keep_alive_connection_is_closed(limited_sqs):
    with connect(limited_sqs, timeout=IDLE_TIMEOUT + 3) as sock:
        for _ in range(2):  # the connection is kept alive between requests ...
            assert answers(sock)
        start = time.monotonic()
        assert closed_by_server(sock)  # ... and closed when idle
        assert IDLE_TIMEOUT - 1 < time.monotonic() - start < IDLE_TIMEOUT + 2


def test_slow_body_times_out(limited_sqs):
    body = b"Action=ListQueues&QueueNamePrefix=" + b"x" * 1000
    _, headers = sign(limited_sqs.endpoint, body)
    with connect(limited_sqs) as sock:
        send_head(sock, {**headers, "Content-Length": str(len(body))})
        sock.sendall(body[:100])  # and the rest never
        start = time.monotonic()
        status, answer = read_response(sock)
        assert (status, error_code(answer)) == (400, "RequestTimeout")
        assert time.monotonic() - start < BODY_TIMEOUT + 2




def test_connections_are_capped_per_peer_and_in_total(limited_sqs):
    opened: list[socket.socket] = []
    try:
        for source in ("127.0.0.1", "127.0.0.2"):
            for _ in range(MAX_PER_PEER):
                opened.append(connect(limited_sqs, source))
                assert answers(opened[-1])
        over_peer_cap = connect(limited_sqs, "127.0.0.1")  # 6 of 7 in total: only its own cap is hit
        opened.append(over_peer_cap)
        assert not answers(over_peer_cap)  # closed at once by the service
        opened.append(connect(limited_sqs, "127.0.0.3"))
        assert answers(opened[-1])  # the 7th
        over_total = connect(limited_sqs, "127.0.0.4")
        opened.append(over_total)
        assert not answers(over_total)
        opened[0].close()  # a slot frees up: the new peer gets in
        deadline = time.monotonic() + 3
        while True:
            retry = connect(limited_sqs, "127.0.0.4")
            opened.append(retry)
            if answers(retry) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert answers(retry)
    finally:
        for sock in opened:
            sock.close()


def test_limited_service_serves_boto3(limited_sqs):
    sqs = client("sqs", limited_sqs.endpoint)
    url = new_queue(sqs)
    start = time.monotonic()  # a long poll outlasting the header and body timeouts is no slow client
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)
    assert time.monotonic() - start > max(HEADER_TIMEOUT, BODY_TIMEOUT)
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]["Body"] == "hello"

