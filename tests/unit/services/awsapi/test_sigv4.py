import datetime as dt
import hmac

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from services.awsapi import sigv4
from services.awsapi.errors import AwsError

KEYS = {"AKIDEXAMPLE": "secret/with+chars"}


def signed(method="POST", url="http://127.0.0.1:9324/000000000000/q%20x", data=b"Action=ListQueues",
           params=None, secret="secret/with+chars", akid="AKIDEXAMPLE", service="sqs", query=False,
           region="us-east-1", expires=60, headers=None):
    req = AWSRequest(method=method, url=url, data=data, params=params or {},
                     headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    creds = Credentials(akid, secret)
    (SigV4QueryAuth(creds, service, region, expires=expires) if query
     else SigV4Auth(creds, service, region)).add_auth(req)
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


def error_of(req, **kwargs) -> AwsError:
    with pytest.raises(AwsError) as e:
        sigv4.verify(req, KEYS, "sqs", **kwargs)
    return e.value


def with_query(req, **changes) -> sigv4.Request:
    pairs = [p.split("=", 1) for p in req.raw_query.split("&")]
    query = "&".join(f"{k}={changes.get(k, v)}" for k, v in pairs)
    return sigv4.Request(req.method, req.raw_path, query, req.headers, req.body)


def with_header(req, name, value) -> sigv4.Request:
    headers = CIMultiDict(req.headers)
    headers[name] = value
    return sigv4.Request(req.method, req.raw_path, req.raw_query, headers, req.body)


def test_headers_alone_are_checked_before_the_body():
    # The server calls authenticate() before it reads a byte of the body.
    req = signed()
    claim = sigv4.authenticate(req.headers, req.raw_query, KEYS, "sqs", "us-east-1")
    assert claim.access_key == "AKIDEXAMPLE" and "secret" not in repr(claim)
    assert sigv4.verify_signature(claim, req) == "AKIDEXAMPLE"
    other = signed(akid="AKIDOTHER")
    with pytest.raises(AwsError) as e:
        sigv4.authenticate(other.headers, other.raw_query, KEYS, "sqs", "us-east-1")
    assert (e.value.code, e.value.status) == ("InvalidClientTokenId", 403)


def test_credential_scoped_to_another_region_is_refused():
    assert sigv4.verify(signed(region="eu-west-1"), KEYS, "sqs", region="eu-west-1") == "AKIDEXAMPLE"
    err = error_of(signed(region="eu-west-1"))
    assert (err.code, err.status, err.message) == (
        "SignatureDoesNotMatch", 403, "Credential should be scoped to a valid region.")
    err = error_of(signed(query=True, method="GET", data=b"", params={"Action": "ListQueues"},
                          region="eu-west-1"))
    assert err.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("credential, message", [
    ("AKIDEXAMPLE/20250101/us-east-1/sqs", "exactly 5 slash-delimited elements"),
    ("AKIDEXAMPLE/20250101/us-east-1/sqs/aws5_request", "valid terminator"),
])
def test_malformed_credential_scope(credential, message):
    req = signed()
    auth = req.headers["Authorization"]
    start = auth.index("Credential=") + len("Credential=")
    bad = auth[:start] + credential + auth[auth.index(",", start):]
    err = error_of(with_header(req, "Authorization", bad))
    assert (err.code, err.status) == ("IncompleteSignature", 400) and message in err.message


def test_presigned_url_may_live_a_week_at_most():
    week = signed(method="GET", data=b"", params={"Action": "ListQueues"}, query=True, expires=604800)
    assert sigv4.verify(week, KEYS, "sqs") == "AKIDEXAMPLE"
    err = error_of(signed(method="GET", data=b"", params={"Action": "ListQueues"}, query=True,
                          expires=604801))
    assert (err.code, err.status) == ("AuthorizationQueryParametersError", 400)
    assert err.message == "X-Amz-Expires must be less than a week (in seconds) that is 604800"


@pytest.mark.parametrize("value, message", [
    ("-5", "X-Amz-Expires must be non-negative"),
    ("abc", "X-Amz-Expires should be a number"),
    ("1e3", "X-Amz-Expires should be a number"),
    ("", "X-Amz-Expires should be a number"),
])
def test_presigned_expiry_must_be_a_non_negative_number(value, message):
    req = signed(method="GET", data=b"", params={"Action": "ListQueues"}, query=True)
    err = error_of(with_query(req, **{"X-Amz-Expires": value}))
    assert (err.code, err.status, err.message) == ("AuthorizationQueryParametersError", 400, message)


def test_presigned_url_needs_all_its_parameters():
    req = signed(method="GET", data=b"", params={"Action": "ListQueues"}, query=True)
    query = "&".join(p for p in req.raw_query.split("&") if not p.startswith("X-Amz-Expires="))
    err = error_of(sigv4.Request(req.method, req.raw_path, query, req.headers, req.body))
    assert err.code == "AuthorizationQueryParametersError" and "X-Amz-Expires parameters" in err.message


def test_non_ascii_signature_is_a_client_error():
    req = signed()
    auth = req.headers["Authorization"]
    for odd in ("\u00e9" * 64, "\udcff" * 64):  # valid UTF-8, and a byte aiohttp could not decode
        bad = auth[:auth.index("Signature=") + len("Signature=")] + odd
        err = error_of(with_header(req, "Authorization", bad))
        assert (err.code, err.status) == ("IncompleteSignature", 400)
    presigned = signed(method="GET", data=b"", params={"Action": "ListQueues"}, query=True)
    err = error_of(with_query(presigned, **{"X-Amz-Signature": "%C3%A9" * 64}))
    assert (err.code, err.status) == ("IncompleteSignature", 400)


def test_signature_compared_in_constant_time(monkeypatch):
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return hmac_compare(a, b)

    hmac_compare = hmac.compare_digest
    monkeypatch.setattr(sigv4.hmac, "compare_digest", spy)
    assert sigv4.verify(signed(), KEYS, "sqs") == "AKIDEXAMPLE"
    assert error_of(signed(secret="wrong")).code == "SignatureDoesNotMatch"
    assert len(calls) == 2


def test_x_amz_target_must_be_signed():
    target = {"X-Amz-Target": "AmazonSQS.ListQueues"}
    assert sigv4.verify(signed(data=b"{}", headers=target), KEYS, "sqs") == "AKIDEXAMPLE"
    # signed without the header, which is then added: the action could have been anything
    err = error_of(with_header(signed(data=b"{}"), "X-Amz-Target", "AmazonSQS.DeleteQueue"))
    assert (err.code, err.status) == ("IncompleteSignature", 400) and "X-Amz-Target" in err.message


def test_host_must_be_signed():
    req = signed()
    auth = req.headers["Authorization"].replace("SignedHeaders=content-type;host;x-amz-date",
                                                "SignedHeaders=content-type;x-amz-date")
    assert auth != req.headers["Authorization"]
    err = error_of(with_header(req, "Authorization", auth))
    assert (err.code, err.status) == ("IncompleteSignature", 400) and "'Host'" in err.message


def test_undecodable_query_bytes_verify_as_signed():
    # %FF must be canonicalised as the client signed it; the parameter parser refuses it later.
    req = signed(method="GET", data=b"", url="http://127.0.0.1:9324/?Action=ListQueues&QueueNamePrefix=%FF")
    assert "%FF" in req.raw_query
    assert sigv4.verify(req, KEYS, "sqs") == "AKIDEXAMPLE"


@pytest.mark.parametrize("amz_date", ["2026-12-01T20:00:00Z", "20261201T2000Z", "2026121T200000Z",
                                      "20261201T200000", "20261301T200000Z", " 20261201T200000Z"])
def test_a_date_not_in_iso8601_basic_format_is_incomplete(amz_date):
    req = signed()
    headers = CIMultiDict(req.headers)
    headers["X-Amz-Date"] = amz_date
    with pytest.raises(AwsError) as e:
        sigv4.authenticate(headers, "", KEYS, "sqs", "us-east-1")
    assert (e.value.code, e.value.message) == ("IncompleteSignature",
                                               "Date must be in ISO-8601 'basic format'.")


def test_the_same_date_parses_alike_every_time():
    when = sigv4._parse_amz_date("20261201T203040Z")
    assert when == dt.datetime(2026, 12, 1, 20, 30, 40, tzinfo=dt.timezone.utc)
    assert sigv4._parse_amz_date("20261201T203040Z") == when
    assert sigv4._parse_amz_date("20261201T203041Z") == when + dt.timedelta(seconds=1)


def test_a_changed_secret_is_used_at_once_despite_the_derived_key_cache():
    req = signed()
    assert sigv4.verify(req, KEYS, "sqs") == "AKIDEXAMPLE"
    with pytest.raises(AwsError) as e:
        sigv4.verify(req, {"AKIDEXAMPLE": "rotated"}, "sqs")
    assert e.value.code == "SignatureDoesNotMatch"
    assert sigv4.verify(signed(secret="rotated"), {"AKIDEXAMPLE": "rotated"}, "sqs") == "AKIDEXAMPLE"


def test_the_derived_key_cache_is_bounded():
    for i in range(sigv4._SIGNING_KEYS_MAX + 10):
        sigv4._cached_signing_key(f"s{i}", "20261201", "us-east-1", "sqs")
    assert len(sigv4._SIGNING_KEYS) <= sigv4._SIGNING_KEYS_MAX
    assert sigv4._cached_signing_key("x", "20261201", "us-east-1", "sqs") == \
        sigv4.signing_key("x", "20261201", "us-east-1", "sqs")
