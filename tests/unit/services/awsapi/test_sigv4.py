import datetime as dt

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from services.awsapi import sigv4
from services.awsapi.errors import AwsError

KEYS = {"AKIDEXAMPLE": "secret/with+chars"}


def signed(method="POST", url="http://127.0.0.1:9324/000000000000/q%20x", data=b"Action=ListQueues",
           params=None, secret="secret/with+chars", akid="AKIDEXAMPLE", service="sqs", query=False):
    req = AWSRequest(method=method, url=url, data=data, params=params or {},
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    creds = Credentials(akid, secret)
    (SigV4QueryAuth(creds, service, "us-east-1", expires=60) if query
     else SigV4Auth(creds, service, "us-east-1")).add_auth(req)
    p = req.prepare()
    path, _, qs = p.url.split("9324", 1)[1].partition("?")
    headers = CIMultiDict(p.headers)
    headers["Host"] = "127.0.0.1:9324"
    body = p.body if isinstance(p.body, bytes) else (p.body or "").encode()
    return sigv4.Request(method, path, qs, headers, body)


def test_accepts_botocore_signature():
    assert sigv4.verify(signed(), KEYS, "sqs") == "AKIDEXAMPLE"


def test_accepts_get_with_query_string():
    req = signed(method="GET", data=b"", params={"Action": "ListQueues", "QueueNamePrefix": "a b/c~"})
    assert sigv4.verify(req, KEYS, "sqs") == "AKIDEXAMPLE"


def test_accepts_presigned_url():
    req = signed(method="GET", data=b"", params={"Action": "ListQueues"}, query=True)
    assert sigv4.verify(req, KEYS, "sqs") == "AKIDEXAMPLE"


@pytest.mark.parametrize("kwargs, code, status", [
    ({"secret": "wrong"}, "SignatureDoesNotMatch", 403),
    ({"akid": "AKIDOTHER"}, "InvalidClientTokenId", 403),
    ({"service": "sns"}, "SignatureDoesNotMatch", 403),
])
def test_rejects(kwargs, code, status):
    with pytest.raises(AwsError) as e:
        sigv4.verify(signed(**kwargs), KEYS, "sqs")
    assert (e.value.code, e.value.status) == (code, status)


def test_rejects_tampered_body():
    req = signed()
    tampered = sigv4.Request(req.method, req.raw_path, req.raw_query, req.headers, b"Action=DeleteQueue")
    with pytest.raises(AwsError) as e:
        sigv4.verify(tampered, KEYS, "sqs")
    assert e.value.code == "SignatureDoesNotMatch"


def test_rejects_old_request():
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)
    with pytest.raises(AwsError) as e:
        sigv4.verify(signed(), KEYS, "sqs", now=later)
    assert e.value.code == "SignatureDoesNotMatch" and "expired" in e.value.message


def test_missing_and_malformed_authorization():
    with pytest.raises(AwsError) as e:
        sigv4.verify(sigv4.Request("POST", "/", "", CIMultiDict(), b""), KEYS, "sqs")
    assert (e.value.code, e.value.status) == ("MissingAuthenticationToken", 403)
    with pytest.raises(AwsError) as e:
        sigv4.verify(sigv4.Request("POST", "/", "", CIMultiDict(Authorization="AWS4-HMAC-SHA256 Credential=x"),
                                   b""), KEYS, "sqs")
    assert e.value.code == "IncompleteSignature"
