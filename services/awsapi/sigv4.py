"""AWS Signature Version 4 verification (header-based and presigned query-string).

Mirrors botocore's SigV4Auth so that anything boto3, the aws CLI or an SDK signs verifies here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote, unquote

from .errors import AwsError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str          # path as sent, still percent-encoded, without the query string
    raw_query: str         # query string as sent
    headers: Mapping[str, str]  # case-insensitive mapping (aiohttp's CIMultiDictProxy works)
    body: bytes


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    enc = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


def canonical_uri(raw_path: str) -> str:
    # botocore quotes the already-quoted path once more for every service but S3.
    path = raw_path or "/"
    return quote(path, safe="/~")


def _bad_signature() -> AwsError:
    return AwsError("SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. "
                    "Check your AWS Secret Access Key and signing method. "
                    "Consult the service documentation for details.", status=403)


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    if not value.startswith(ALGORITHM + " "):
        raise AwsError("IncompleteSignature", f"Unsupported AWS 'algorithm': '{value.split(' ')[0]}'")
    fields = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        name, _, val = part.strip().partition("=")
        fields[name] = val
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise AwsError("IncompleteSignature",
                       f"Authorization header requires '{missing[0]}' parameter. Authorization={value[:40]}...")
    return fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]


def verify(req: Request, keys: Mapping[str, str], service: str,
           now: dt.datetime | None = None) -> str:
    """Check the request's signature; return the access key id that signed it.

    Raises AwsError with AWS's codes: MissingAuthenticationToken, IncompleteSignature,
    InvalidClientTokenId, SignatureDoesNotMatch, RequestExpired.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    pairs = _query_pairs(req.raw_query)
    auth = req.headers.get("Authorization")
    presigned = False
    if auth:
        credential, signed_headers, signature = _parse_authorization(auth)
        amz_date = req.headers.get("X-Amz-Date") or ""
    else:
        q = dict(pairs)
        if "X-Amz-Signature" not in q:
            raise AwsError("MissingAuthenticationToken",
                           "Request is missing Authentication Token", status=403)
        if q.get("X-Amz-Algorithm") != ALGORITHM:
            raise AwsError("IncompleteSignature", "Unsupported X-Amz-Algorithm")
        presigned = True
        credential = q.get("X-Amz-Credential", "")
        signed_headers = q.get("X-Amz-SignedHeaders", "host").split(";")
        signature = q["X-Amz-Signature"]
        amz_date = q.get("X-Amz-Date", "")
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]

    scope_parts = credential.split("/")
    if len(scope_parts) != 5 or scope_parts[4] != "aws4_request":
        raise AwsError("IncompleteSignature", "Credential should be scoped to a valid region.")
    akid, date, region, cred_service, _ = scope_parts
    if cred_service != service:
        raise AwsError("SignatureDoesNotMatch",
                       f"Credential should be scoped to correct service: '{service}'.", status=403)
    secret = keys.get(akid)
    if secret is None:
        raise AwsError("InvalidClientTokenId",
                       "The security token included in the request is invalid.", status=403)
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise AwsError("IncompleteSignature", "Date must be in ISO-8601 'basic format'.") from None
    if presigned:
        expires = int(dict(pairs).get("X-Amz-Expires", "0") or 0)
        if now > when + dt.timedelta(seconds=expires) or when - now > MAX_SKEW:
            raise AwsError("RequestExpired", "Request has expired.", status=403)
    elif abs(now - when) > MAX_SKEW:
        raise AwsError("SignatureDoesNotMatch",
                       f"Signature expired: {amz_date} is now earlier or later than 15 minutes "
                       "of the current time.", status=403)
    if date != amz_date[:8]:
        raise _bad_signature()
    if "host" not in signed_headers:
        raise AwsError("IncompleteSignature", "'Host' must be a signed header.")

    canonical_headers = ""
    for name in signed_headers:
        value = req.headers.get(name)
        if value is None:
            raise _bad_signature()
        canonical_headers += f"{name}:{' '.join(value.split())}\n"
    body_hash = hashlib.sha256(req.body).hexdigest()
    payload_hash = req.headers.get("X-Amz-Content-SHA256") or body_hash
    # An unsigned payload would let a body be swapped under a valid signature: refuse it.
    if payload_hash != body_hash and not (payload_hash == "UNSIGNED-PAYLOAD" and not req.body):
        raise _bad_signature()
    canonical_request = "\n".join([
        req.method.upper(),
        canonical_uri(req.raw_path),
        canonical_query(pairs),
        canonical_headers,
        ";".join(signed_headers),
        payload_hash,
    ])
    scope = f"{date}/{region}/{cred_service}/aws4_request"
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    expected = hmac.new(signing_key(secret, date, region, cred_service),
                        string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise _bad_signature()
    return akid
