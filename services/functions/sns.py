"""The connector as an ordinary SNS http(s) subscriber: one path per (topic, function)
subscription (`/sns/<topic>/<function>`), so each function's deliveries are retried by SNS on
their own and one failing function never makes SNS deliver again to another.

Every POST is checked as AWS tells subscribers to: its x-amz-sns-message-type, the topic of
its route, then the signature (SignatureVersion 1: SHA1, 2: SHA256, RSA PKCS#1 v1.5) with the
certificate at SigningCertURL, fetched only from the configured SNS endpoint. With the cloud's
CA (`ca_file`) that certificate must chain to its root (SNS serves the leaf then its
intermediates) and carry the SNS service's name (`signing_name`); without a CA, SNS signs with
a throwaway self-signed certificate and the signature proves only that the message came from
whoever answers at the SNS endpoint.

- SubscriptionConfirmation: GET its SubscribeURL (on the SNS endpoint) — the connector
  confirms its own subscriptions, nothing else has to.
- Notification: the function is invoked with the Message as the body; SNS gets 200 once the
  gateway answered 2xx and 502 otherwise (SNS then retries, per its delivery policy). A
  MessageId delivered again on the same route (SNS retried because its request timed out while
  the function ran) joins the invocation under way or, once that succeeded, is answered 200
  without a second invocation. SNS waits 10 s for an answer and retries a few times: a function
  that runs longer is better invoked `async` (the gateway answers 202 at once).
- UnsubscribeConfirmation: logged (the subscription is ending; nothing to do).
Raw message delivery is refused (400): a raw body has no signature to check.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import time
from collections import OrderedDict
from typing import Awaitable, Callable, Optional

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from .config import SnsRoute, origin
from .gateway import Gateway, Invocation

log = logging.getLogger(__name__)

KINDS = ("SubscriptionConfirmation", "Notification", "UnsubscribeConfirmation")
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                       "Type")
# A 256 KiB message, JSON-escaped (\u00XX), in its envelope.
MAX_BODY = 2 * 1024 * 1024
MAX_CERT = 64 * 1024


BODY_TIMEOUT = 30   # seconds a delivery's body may take to arrive


class Rejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


async def read_limited(content: aiohttp.StreamReader, limit: int, what: str) -> bytes:
    """All of a body (it may come in many chunks), refused (413) once past `limit` bytes."""
    chunks, size = [], 0
    async for chunk in content.iter_any():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"{what} is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def string_to_sign(doc: dict) -> bytes:
    """AWS's documented canonical form: name\\nvalue\\n for the type's fields that are there."""
    fields = NOTIFICATION_FIELDS if doc["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{k}\n{doc[k]}\n" for k in fields if doc.get(k) is not None).encode()


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise Rejected(403, "SigningCertURL holds no PEM certificate") from None


def _valid_now(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_chain(bundle: list[x509.Certificate], roots: list[x509.Certificate],
                now: Optional[dt.datetime] = None) -> None:
    """The bundle's first certificate chains to one of `roots` through the bundle's others
    (CA certificates, in their validity), or Rejected."""
    now = now or dt.datetime.now(dt.timezone.utc)
    current, intermediates = bundle[0], bundle[1:]
    if not _valid_now(current, now):
        raise Rejected(403, "the signing certificate is expired or not yet valid")
    for _ in range(len(intermediates) + 1):
        if any(_issued_by(current, r) and _valid_now(r, now) for r in roots):
            return
        up = next((c for c in intermediates if _is_ca(c) and _valid_now(c, now)
                   and _issued_by(current, c)), None)
        if up is None:
            break
        intermediates = [c for c in intermediates if c is not up]
        current = up
    raise Rejected(403, "the signing certificate does not chain to the cloud's CA")


def cert_names(cert: x509.Certificate) -> list[str]:
    try:
        return list(cert.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def check_signature(doc: dict, cert: x509.Certificate) -> None:
    version = doc.get("SignatureVersion")
    if version not in ("1", "2"):
        raise Rejected(403, f"SignatureVersion {version!r} is not 1 or 2")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Rejected(403, "the signing certificate's key is not RSA")
    try:
        signature = base64.b64decode(str(doc.get("Signature", "")), validate=True)
        key.verify(signature, string_to_sign(doc), padding.PKCS1v15(),
                   hashes.SHA256() if version == "2" else hashes.SHA1())
    except (ValueError, InvalidSignature):
        raise Rejected(403, "the signature does not match the message") from None


class Verifier:
    """Checks SNS documents against the SNS endpoint's signing certificate (fetched once per
    SigningCertURL: the URL names the certificate by its digest)."""

    def __init__(self, endpoint: str, session: aiohttp.ClientSession,
                 roots: Optional[list[x509.Certificate]] = None,
                 signing_name: Optional[str] = None):
        self.origin = origin(endpoint)
        self.session, self.roots, self.signing_name = session, roots, signing_name
        self._certs: dict[str, x509.Certificate] = {}

    def on_endpoint(self, url: object, what: str) -> str:
        if not isinstance(url, str) or origin(url) != self.origin:
            raise Rejected(403, f"{what} is not on the SNS endpoint {self.origin}")
        return url

    async def certificate(self, url: str) -> x509.Certificate:
        if url in self._certs:
            return self._certs[url]
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
                if r.status != 200:
                    raise Rejected(403, f"SigningCertURL answered {r.status}")
                data = await read_limited(r.content, MAX_CERT, "SigningCertURL's certificate")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Rejected(503, f"SigningCertURL unreachable ({type(exc).__name__})") from None
        bundle = load_pem_bundle(data)
        if self.roots is not None:
            check_chain(bundle, self.roots)
            if self.signing_name and self.signing_name not in cert_names(bundle[0]):
                raise Rejected(403, f"the signing certificate is not {self.signing_name}'s")
        self._certs[url] = bundle[0]
        return bundle[0]

    async def verify(self, doc: dict) -> None:
        url = self.on_endpoint(doc.get("SigningCertURL"), "SigningCertURL")
        check_signature(doc, await self.certificate(url))


class Once:
    """At most one successful invocation per key (route and MessageId): a key under way is
    joined, a key that succeeded is answered from memory (bounded: `size` keys, `ttl` s)."""

    def __init__(self, size: int = 10000, ttl: float = 3600):
        self.size, self.ttl = size, ttl
        self._done: OrderedDict[str, tuple[float, Invocation]] = OrderedDict()
        self._running: dict[str, asyncio.Task] = {}

    def _finished(self, key: str, task: asyncio.Task) -> None:
        self._running.pop(key, None)
        if not task.cancelled() and task.exception() is None and task.result().ok:
            self._done[key] = (time.monotonic(), task.result())
            self._done.move_to_end(key)
            while len(self._done) > self.size:
                self._done.popitem(last=False)

    async def run(self, key: str, invoke: Callable[[], Awaitable[Invocation]]) -> Invocation:
        done = self._done.get(key)
        if done is not None and time.monotonic() - done[0] < self.ttl:
            return done[1]
        task = self._running.get(key)
        if task is None:
            # A task of its own: it finishes (and is remembered) even when SNS hangs up.
            task = asyncio.ensure_future(invoke())
            self._running[key] = task
            task.add_done_callback(lambda t: self._finished(key, t))
        return await asyncio.shield(task)


def notification_headers(doc: dict) -> dict[str, str]:
    headers = {"Content-Type": "text/plain; charset=utf-8", "X-Mammatus-Trigger": "sns",
               "X-Mammatus-Topic": doc["TopicArn"].rsplit(":", 1)[1],
               "X-Mammatus-Topic-Arn": doc["TopicArn"],
               "X-Mammatus-Message-Id": str(doc.get("MessageId", "")),
               "X-Mammatus-Timestamp": str(doc.get("Timestamp", ""))}
    if doc.get("Subject") is not None:
        headers["X-Mammatus-Subject"] = str(doc["Subject"])
    if doc.get("MessageAttributes"):
        headers["X-Mammatus-Message-Attributes"] = json.dumps(doc["MessageAttributes"],
                                                              sort_keys=True)
    return headers


class SnsSubscriber:
    def __init__(self, routes: list[SnsRoute], verifier: Verifier, gateway: Gateway,
                 once: Optional[Once] = None):
        self.routes = {r.path: r for r in routes}
        self.verifier, self.gateway = verifier, gateway
        self.once = once or Once()

    def add_routes(self, app: web.Application) -> None:
        for path in self.routes:
            app.router.add_post(path, self.handle)

    async def _document(self, request: web.Request, route: SnsRoute) -> dict:
        kind = request.headers.get("x-amz-sns-message-type")
        if kind not in KINDS:
            raise Rejected(400, "x-amz-sns-message-type must be one of " + ", ".join(KINDS))
        if request.headers.get("x-amz-sns-rawdelivery", "").lower() == "true":
            raise Rejected(400, "raw message delivery has no signature to check: subscribe "
                                "without RawMessageDelivery")
        if (request.content_length or 0) > MAX_BODY:
            raise Rejected(413, "the message is too large")
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                body = await read_limited(request.content, MAX_BODY, "the message")
        except TimeoutError:
            raise Rejected(408, "the message took too long to arrive") from None
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Rejected(400, "the body is not an SNS JSON document") from None
        if not isinstance(doc, dict) or doc.get("Type") != kind:
            raise Rejected(400, f"the body is not an SNS {kind}")
        if doc.get("TopicArn") != route.topic_arn:
            raise Rejected(400, f"this path takes messages of {route.topic_arn} only")
        await self.verifier.verify(doc)
        return doc

    async def handle(self, request: web.Request) -> web.Response:
        route = self.routes[request.path]
        try:
            doc = await self._document(request, route)
            if doc["Type"] == "SubscriptionConfirmation":
                return await self._confirm(doc, route)
            if doc["Type"] == "UnsubscribeConfirmation":
                log.warning("%s: the subscription of %s to %s is ending", route.path,
                            route.function, route.topic_arn)
                return web.Response(text="ok\n")
            return await self._notify(doc, route)
        except Rejected as exc:
            log.warning("%s: refused (%d): %s", route.path, exc.status, exc)
            return web.json_response({"error": str(exc)}, status=exc.status)

    async def _confirm(self, doc: dict, route: SnsRoute) -> web.Response:
        url = self.verifier.on_endpoint(doc.get("SubscribeURL"), "SubscribeURL")
        try:
            async with self.verifier.session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Rejected(503, f"SubscribeURL unreachable ({type(exc).__name__})") from None
        if status != 200:
            raise Rejected(502, f"SNS answered {status} to the confirmation")
        log.info("%s: subscribed %s to %s", route.path, route.function, route.topic_arn)
        return web.Response(text="confirmed\n")

    async def _notify(self, doc: dict, route: SnsRoute) -> web.Response:
        message = doc.get("Message")
        if not isinstance(message, str) or not doc.get("MessageId"):
            raise Rejected(400, "a Notification has a Message and a MessageId")

        def invoke():
            return self.gateway.invoke(route.function, message.encode(), notification_headers(doc),
                                       route.invoke == "async")
        result = await self.once.run(f"{route.path} {doc['MessageId']}", invoke)
        if not result.ok:
            return web.json_response({"error": f"{route.function}: gateway answered "
                                      f"{result.status or result.error}"}, status=502)
        return web.json_response({"invoked": route.function, "status": result.status})
