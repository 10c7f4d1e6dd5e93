"""aiohttp plumbing shared by AWS-compatible services: auth, protocol detection, rendering.

A service supplies an async dispatch(action, params, ctx) -> result dict, raising AwsError.

A request is checked in the order that costs an unauthenticated caller the least: the signature's
headers (format, scope, a known key, time) before a byte of the body is read, the body's size
from Content-Length and while it is read, the signature over the body before the body is parsed,
the parameters' types before a handler sees them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import ssl
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from aiohttp import web

from services import event_loop

from . import protocol, sigv4
from .connections import DEFAULT_LIMITS, ConnectionGuard, Limits
from .errors import AwsError, internal_error
from .shapes import ParameterTypes

log = logging.getLogger(__name__)

# An unsigned request can only be one of the anonymous actions (SNS's confirm/unsubscribe links,
# a few hundred bytes): that is all an anonymous caller may make the service read.
ANONYMOUS_MAX_BODY = 16 * 1024


@dataclass
class Context:
    """What a handler may need from the HTTP request besides its parameters."""
    access_key: str
    host: str
    path: str
    scheme: str = "http"


Dispatch = Callable[[str, dict, Context], Awaitable[dict | None]]


@dataclass
class ServiceSpec:
    signing_name: str                 # SigV4 service name, e.g. "sqs" (also its botocore model's name)
    xmlns: str                        # query protocol response namespace
    json_prefix: str | None = None    # X-Amz-Target prefix when the JSON protocol is spoken
    json_namespace: str = ""          # __type namespace for JSON errors
    query_in: Mapping[str, tuple] = field(default_factory=dict)
    query_out: Mapping[str, tuple] = field(default_factory=dict)
    query_out_by_action: Mapping[str, Mapping[str, tuple]] = field(default_factory=dict)
    max_body: int = 4 * 1024 * 1024
    # Actions AWS lets anyone call unsigned (SNS's ConfirmSubscription link, Unsubscribe link).
    anonymous_actions: frozenset = frozenset()


def too_large(limit: int) -> AwsError:
    # SQS answers an oversized request with HTTP 413 Request Entity Too Large and no modelled
    # error code; the code here names that status so SDKs show it.
    return AwsError("RequestEntityTooLarge", f"Request body must be at most {limit} bytes.", status=413)


def incomplete_body() -> AwsError:
    # S3's answer to a body that ends early or is badly chunked (the SQS/SNS docs have none).
    return AwsError("IncompleteBody", "The request body ended before its declared length or "
                    "was not validly chunked.")


def request_timeout() -> AwsError:
    # S3's documented answer to a body that does not arrive in time (the SQS/SNS docs have none).
    return AwsError("RequestTimeout", "Your socket connection to the server was not read from or "
                    "written to within the timeout period.")


async def read_body(request: web.BaseRequest, limit: int, timeout: float,
                    excess: Callable[[int], AwsError] = too_large) -> bytes:
    """The body, refused with excess(limit) as soon as it is known to exceed `limit`: from
    Content-Length before reading, while reading for a chunked body."""
    if request.content_length is not None and request.content_length > limit:
        raise excess(limit)
    content = request.content
    if content.is_eof():
        # All of it came with the headers (an SDK's small request does): nothing to wait for.
        try:
            body = content.read_nowait()
        except web.RequestPayloadError:
            raise incomplete_body() from None
        if len(body) > limit:
            raise excess(limit)
        return body
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise excess(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise request_timeout() from None
    except (web.RequestPayloadError, ConnectionError):  # the client's fault: no traceback in the log
        raise incomplete_body() from None
    return b"".join(chunks)


class _Handler:
    """One service's request pipeline; see the module docstring for the order of checks."""

    def __init__(self, spec: ServiceSpec, keys: Mapping[str, str], dispatch: Dispatch,
                 region: str, limits: Limits):
        self.spec = spec
        self.keys = keys
        self.dispatch = dispatch
        self.region = region
        self.limits = limits
        self.types = ParameterTypes.for_service(spec.signing_name)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = protocol.new_request_id()
        is_json = self._speaks_json(request)
        action = "?"
        try:
            raw_path, _, raw_query = request.raw_path.partition("?")
            claim = self._authenticate(request, raw_query)
            body = await self._read_body(request, claim)
            access_key = self._signer(claim, request, raw_path, raw_query, body)
            action, params = self._parse(request, raw_query, body, is_json)
            if not access_key and action not in self.spec.anonymous_actions:
                raise sigv4.missing_authentication()
            self.types.check(action, params, is_json)
            ctx = Context(access_key=access_key, host=request.headers.get("Host", request.host),
                          path=request.path, scheme=request.scheme)
            result = await self.dispatch(action, params, ctx)
            return self._success(action, result, request_id, is_json)
        except AwsError as err:
            log.info("%s -> %s", action, err.code)
            return self._refusal(request, err, request_id, is_json)
        except Exception:  # never leak internals (or secrets) to the client
            log.exception("%s failed", action)
            return _error(self.spec, internal_error(), request_id, is_json)

    def _speaks_json(self, request: web.Request) -> bool:
        return "X-Amz-Target" in request.headers and self.spec.json_prefix is not None

    def _authenticate(self, request: web.Request, raw_query: str) -> sigv4.Claim | None:
        """The signature's claims checked from the headers; None for an allowed unsigned request."""
        if not sigv4.is_signed(request.headers, raw_query):
            if not self.spec.anonymous_actions:
                raise sigv4.missing_authentication()
            return None
        return sigv4.authenticate(request.headers, raw_query, self.keys, self.spec.signing_name,
                                  self.region)

    @staticmethod
    def _signer(claim: sigv4.Claim | None, request: web.Request, raw_path: str, raw_query: str,
                body: bytes) -> str:
        """The access key whose signature covers the whole request; "" when unsigned."""
        if claim is None:
            return ""
        return sigv4.verify_signature(
            claim, sigv4.Request(request.method, raw_path, raw_query, request.headers, body))

    async def _read_body(self, request: web.Request, claim: sigv4.Claim | None) -> bytes:
        if claim:
            return await read_body(request, self.spec.max_body, self.limits.body_timeout)
        # Too big for an anonymous action: what it lacks is a signature.
        return await read_body(request, ANONYMOUS_MAX_BODY, self.limits.body_timeout,
                               excess=lambda _limit: sigv4.missing_authentication())

    def _parse(self, request: web.Request, raw_query: str, body: bytes, is_json: bool) -> tuple[str, dict]:
        if is_json:
            return protocol.parse_json(request.headers["X-Amz-Target"], self.spec.json_prefix, body)
        form = body if request.method == "POST" else b""
        return protocol.parse_query(protocol.parse_form(form, raw_query), self.spec.query_in)

    def _success(self, action: str, result: dict | None, request_id: str, is_json: bool) -> web.Response:
        headers = {"x-amzn-RequestId": request_id}
        if is_json:
            return web.Response(body=json.dumps(result).encode() if result else b"{}", headers=headers,
                                content_type=protocol.JSON_CONTENT_TYPE)
        renames = {**self.spec.query_out, **self.spec.query_out_by_action.get(action, {})}
        return web.Response(text=protocol.render_xml(action, result, self.spec.xmlns, request_id, renames),
                            headers=headers, content_type=protocol.XML_CONTENT_TYPE)

    def _refusal(self, request: web.Request, err: AwsError, request_id: str, is_json: bool) -> web.Response:
        response = _error(self.spec, err, request_id, is_json)
        if not request.content.is_eof():
            # Refused before the body was read: do not wait for the rest of it on this connection
            # (aiohttp still reads and drops what arrives in the next few seconds, so the client
            # gets to read this answer before the socket closes).
            response.force_close()
        return response


def make_handler(spec: ServiceSpec, keys: Mapping[str, str], dispatch: Dispatch,
                 region: str = "us-east-1", limits: Limits = DEFAULT_LIMITS):
    """`region` is the service's own: a signature scoped to any other is refused."""
    return _Handler(spec, keys, dispatch, region, limits).handle


def _error(spec: ServiceSpec, err: AwsError, request_id: str, is_json: bool) -> web.Response:
    headers = {"x-amzn-RequestId": request_id}
    if is_json:
        body, extra = protocol.render_json_error(err, spec.json_namespace)
        headers.update(extra)
        return web.Response(status=err.status, body=json.dumps(body).encode(), headers=headers,
                            content_type=protocol.JSON_CONTENT_TYPE)
    return web.Response(status=err.status, text=protocol.render_xml_error(err, request_id, spec.xmlns),
                        headers=headers, content_type=protocol.XML_CONTENT_TYPE)


# An app whose every request goes to one handler (SQS's) names it here: _serve then hands requests
# to it straight from aiohttp's low-level server, with the connection guard's two calls around it,
# not through the router and the middleware chain (they cost about a tenth of a request's CPU).
SOLE_HANDLER = web.AppKey("aws_sole_handler", object)


def route_everything(app: web.Application, handler) -> None:
    """Every method and path of `app` to `handler`, served without the router when it runs
    under serve()."""
    app.router.add_route("*", "/{tail:.*}", handler)
    app[SOLE_HANDLER] = handler


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(app: Awaitable[web.Application], host: str, port: int, limits: Limits,
          ssl_context: ssl.SSLContext | None = None) -> None:
    """Run the app on host:port until SIGTERM/SIGINT, its connections under `limits`; HTTPS
    with `ssl_context` (tls.server_context), plain HTTP without."""
    event_loop.run(_serve(app, host, port, limits, ssl_context), tls=ssl_context is not None)


async def _serve(app_factory: Awaitable[web.Application], host: str, port: int, limits: Limits,
                 ssl_context: ssl.SSLContext | None = None) -> None:
    app = await app_factory
    # The guard does the TLS handshake (not create_server), so the caps cover handshakes too.
    guard = ConnectionGuard(limits, ssl_context)
    sole = app.get(SOLE_HANDLER)
    if sole is None:
        app.middlewares.append(guard.middleware)
    # auto_decompress off: a signature covers the bytes sent, and a small gzip body must not
    # inflate past the body limit before it is counted.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.idle_timeout,
                           auto_decompress=False)
    await runner.setup()
    if sole is not None:  # before any connection: each takes both when it is made
        runner.server.request_handler = guard.around(sole)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(guard.protocol_factory(runner.server), host, port, backlog=128)
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        server.close()
        await runner.cleanup()
