"""AWS Signature Version 4 verification (header-based and presigned query-string).

Mirrors botocore's SigV4Auth so that anything boto3, the aws CLI or an SDK signs verifies here.
Verification comes in two steps so that a server can refuse a request on its headers alone,
before it reads the body: authenticate() checks everything except the signature itself (syntax,
credential scope, a known access key, time), verify_signature() then checks the signature, which
covers the body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import parse_qsl, quote, unquote_to_bytes

from .errors import AwsError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=15)
MAX_EXPIRES = 604800  # a week: the longest a presigned URL may live on AWS
PRESIGN_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                  "X-Amz-SignedHeaders", "X-Amz-Expires")
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str          # path as sent, still percent-encoded, without the query string
    raw_query: str         # query string as sent
    headers: Mapping[str, str]  # case-insensitive mapping (aiohttp's CIMultiDictProxy works)
    body: bytes


@dataclass(frozen=True)
class Claim:
    """What a request says about its signature, checked as far as it can be without the body."""
    access_key: str
    secret: str = field(repr=False)
    date: str              # yyyymmdd of the credential scope
    region: str
    service: str
    amz_date: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


# A key signs with the same derived key all day: derived once per (secret, scope). Bounded, so
# a flood of scopes (each needs a known key to get here) cannot grow it.
_SIGNING_KEYS: dict[tuple[str, str, str, str], bytes] = {}
_SIGNING_KEYS_MAX = 256


def _cached_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    scope = (secret, date, region, service)
    key = _SIGNING_KEYS.get(scope)
    if key is None:
        if len(_SIGNING_KEYS) >= _SIGNING_KEYS_MAX:
            _SIGNING_KEYS.clear()
        key = _SIGNING_KEYS[scope] = signing_key(secret, date, region, service)
    return key


def _raw_bytes(text: str) -> bytes:
    # aiohttp hands over undecodable header/URL bytes as surrogates: this gives the bytes back.
    return text.encode("utf-8", "surrogateescape")


def _query_pairs(raw_query: str) -> list[tuple[bytes, bytes]]:
    # Bytes, not text: the canonical query must re-encode exactly what was signed, even %FF.
    if not raw_query:
        return []
    pairs = []
    for part in _raw_bytes(raw_query).split(b"&"):
        if not part:
            continue
        key, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(key.replace(b"+", b" ")),
                      unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def canonical_query(pairs: list[tuple[bytes, bytes]]) -> str:
    if not pairs:
        return ""
    enc = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


def canonical_uri(raw_path: str) -> str:
    # botocore quotes the already-quoted path once more for every service but S3.
    if raw_path == "/" or not raw_path:
        return "/"
    return quote(_raw_bytes(raw_path), safe="/~")


def missing_authentication() -> AwsError:
    return AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", status=403)


def _bad_signature(message: str = "The request signature we calculated does not match the signature "
                   "you provided. Check your AWS Secret Access Key and signing method. "
                   "Consult the service documentation for details.") -> AwsError:
    return AwsError("SignatureDoesNotMatch", message, status=403)


def _incomplete(message: str) -> AwsError:
    return AwsError("IncompleteSignature", message)


def _query_auth_error(message: str) -> AwsError:
    return AwsError("AuthorizationQueryParametersError", message)


def presigned_params(raw_query: str) -> dict[str, str]:
    """The query string's X-Amz-* parameters (lossy decoding: only ASCII values are valid)."""
    if not raw_query:
        return {}
    return {k: v for k, v in parse_qsl(raw_query, keep_blank_values=True) if k.startswith("X-Amz-")}


def is_signed(headers: Mapping[str, str], raw_query: str) -> bool:
    return bool(headers.get("Authorization")) or "X-Amz-Signature" in presigned_params(raw_query)


# --- step 1: the headers ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Fields:
    credential: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    expires: int | None    # presigned URLs only


def _header_fields(value: str, headers: Mapping[str, str]) -> _Fields:
    if not value.isascii():  # hmac.compare_digest refuses non-ASCII str: never let it get there
        raise _incomplete("The Authorization header must contain only ASCII characters.")
    if not value.startswith(ALGORITHM + " "):
        raise _incomplete(f"Unsupported AWS 'algorithm': '{value.split(' ')[0]}'")
    fields = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        name, _, val = part.strip().partition("=")
        fields[name] = val
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise _incomplete(f"Authorization header requires '{missing[0]}' parameter. "
                          f"Authorization={value[:40]}...")
    return _Fields(fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"],
                   headers.get("X-Amz-Date") or "", None)


def _presigned_fields(params: dict[str, str]) -> _Fields:
    if any(name not in params for name in PRESIGN_PARAMS):
        raise _query_auth_error("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                                "and X-Amz-Expires parameters.")
    if not all(params[name].isascii() for name in PRESIGN_PARAMS):
        raise _incomplete("Query-string authentication parameters must contain only ASCII characters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _query_auth_error("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
    return _Fields(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"].split(";"),
                   params["X-Amz-Signature"], params["X-Amz-Date"],
                   _expires_seconds(params["X-Amz-Expires"]))


def _expires_seconds(value: str) -> int:
    # AWS's answers (S3 wording; the other services share the SigV4 front end).
    if not _INTEGER.fullmatch(value):
        raise _query_auth_error("X-Amz-Expires should be a number")
    seconds = int(value)
    if seconds < 0:
        raise _query_auth_error("X-Amz-Expires must be non-negative")
    if seconds > MAX_EXPIRES:
        raise _query_auth_error(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}")
    return seconds


def _check_scope(credential: str, service: str, region: str) -> tuple[str, str]:
    """(access key id, date) of a credential scoped to this region and service."""
    parts = credential.split("/")
    if len(parts) != 5:
        raise _incomplete("Credential must have exactly 5 slash-delimited elements, "
                          f"e.g. keyid/date/region/service/term, got '{credential}'")
    akid, date, cred_region, cred_service, terminator = parts
    if terminator != "aws4_request":
        raise _incomplete(f"Credential should be scoped with a valid terminator: 'aws4_request', "
                          f"not '{terminator}'.")
    if cred_region != region:
        raise _bad_signature("Credential should be scoped to a valid region.")
    if cred_service != service:
        raise _bad_signature(f"Credential should be scoped to correct service: '{service}'.")
    return akid, date


_BASIC_FORMAT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_last_date: tuple[str, dt.datetime] = ("", dt.datetime.min)  # most requests share their second


def _parse_amz_date(amz_date: str) -> dt.datetime:
    """yyyymmddThhmmssZ (ISO 8601 basic format, UTC); ValueError for anything else."""
    last, when = _last_date
    if amz_date == last:
        return when
    match = _BASIC_FORMAT.fullmatch(amz_date)
    if not match:
        raise ValueError(amz_date)
    when = dt.datetime(*map(int, match.groups()), tzinfo=dt.timezone.utc)
    globals()["_last_date"] = (amz_date, when)
    return when


def _check_time(amz_date: str, expires: int | None, now: dt.datetime) -> None:
    try:
        when = _parse_amz_date(amz_date)
    except ValueError:
        raise _incomplete("Date must be in ISO-8601 'basic format'.") from None
    if expires is not None:
        if now > when + dt.timedelta(seconds=expires) or when - now > MAX_SKEW:
            raise AwsError("RequestExpired", "Request has expired.", status=403)
    elif abs(now - when) > MAX_SKEW:
        raise _bad_signature(f"Signature expired: {amz_date} is now earlier or later than 15 minutes "
                             "of the current time.")


def _check_signed_headers(names: list[str], headers: Mapping[str, str]) -> None:
    if "host" not in names:  # SigV4 requires it: a request must not be replayable elsewhere
        raise _incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if "X-Amz-Target" in headers and "x-amz-target" not in names:
        # The JSON protocol names the action in this header: unsigned, it could be swapped.
        raise _incomplete("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
    if any(headers.get(name) is None for name in names):
        raise _bad_signature()


def authenticate(headers: Mapping[str, str], raw_query: str, keys: Mapping[str, str], service: str,
                 region: str, now: dt.datetime | None = None) -> Claim:
    """Check what the headers (or presigned query) say; the body is not needed yet.

    Raises AwsError with AWS's codes: MissingAuthenticationToken, IncompleteSignature,
    AuthorizationQueryParametersError, InvalidClientTokenId, SignatureDoesNotMatch, RequestExpired.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    auth = headers.get("Authorization")
    if auth:
        fields = _header_fields(auth, headers)
    else:
        params = presigned_params(raw_query)
        if "X-Amz-Signature" not in params:
            raise missing_authentication()
        fields = _presigned_fields(params)
    akid, date = _check_scope(fields.credential, service, region)
    secret = keys.get(akid)
    if secret is None:
        raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.",
                       status=403)
    _check_time(fields.amz_date, fields.expires, now)
    if date != fields.amz_date[:8]:
        raise _bad_signature()
    _check_signed_headers(fields.signed_headers, headers)
    return Claim(akid, secret, date, region, service, fields.amz_date, tuple(fields.signed_headers),
                 fields.signature, presigned=fields.expires is not None)


# --- step 2: the signature over the whole request ---------------------------------------------

_EMPTY_HASH = hashlib.sha256(b"").hexdigest()


def _payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    body_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_HASH
    declared = headers.get("X-Amz-Content-SHA256") or body_hash
    # An unsigned payload would let a body be swapped under a valid signature: refuse it.
    if declared != body_hash and not (declared == "UNSIGNED-PAYLOAD" and not body):
        raise _bad_signature()
    return declared


def _canonical_request(claim: Claim, req: Request) -> bytes:
    pairs = _query_pairs(req.raw_query)
    if claim.presigned:
        pairs = [(k, v) for k, v in pairs if k != b"X-Amz-Signature"]
    headers = req.headers
    canonical_headers = "".join([f"{name}:{' '.join(headers[name].split())}\n"
                                 for name in claim.signed_headers])
    return _raw_bytes("\n".join([
        req.method.upper(),
        canonical_uri(req.raw_path),
        canonical_query(pairs),
        canonical_headers,
        ";".join(claim.signed_headers),
        _payload_hash(req.headers, req.body),
    ]))


def verify_signature(claim: Claim, req: Request) -> str:
    """Check the signature of a request authenticate() accepted; return its access key id."""
    scope = f"{claim.date}/{claim.region}/{claim.service}/aws4_request"
    string_to_sign = "\n".join([
        ALGORITHM, claim.amz_date, scope, hashlib.sha256(_canonical_request(claim, req)).hexdigest()])
    expected = hmac.digest(_cached_signing_key(claim.secret, claim.date, claim.region, claim.service),
                           string_to_sign.encode("utf-8"), "sha256").hex()
    # Constant time; both sides are ASCII (authenticate() refused anything else).
    if not hmac.compare_digest(expected.encode("ascii"), claim.signature.encode("ascii")):
        raise _bad_signature()
    return claim.access_key


def verify(req: Request, keys: Mapping[str, str], service: str, now: dt.datetime | None = None,
           region: str = "us-east-1") -> str:
    """Both steps at once; return the access key id that signed the request."""
    return verify_signature(authenticate(req.headers, req.raw_query, keys, service, region, now), req)
