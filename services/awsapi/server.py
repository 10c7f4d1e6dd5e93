"""aiohttp plumbing shared by AWS-compatible services: auth, protocol detection, rendering.

A service supplies an async dispatch(action, params, ctx) -> result dict, raising AwsError.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from aiohttp import web

from . import protocol, sigv4
from .errors import AwsError, internal_error

log = logging.getLogger(__name__)


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
    signing_name: str                 # SigV4 service name, e.g. "sqs"
    xmlns: str                        # query protocol response namespace
    json_prefix: str | None = None    # X-Amz-Target prefix when the JSON protocol is spoken
    json_namespace: str = ""          # __type namespace for JSON errors
    query_in: Mapping[str, tuple] = field(default_factory=dict)
    query_out: Mapping[str, tuple] = field(default_factory=dict)
    query_out_by_action: Mapping[str, Mapping[str, tuple]] = field(default_factory=dict)
    max_body: int = 4 * 1024 * 1024
    # Actions AWS lets anyone call unsigned (SNS's ConfirmSubscription link, Unsubscribe link).
    anonymous_actions: frozenset = frozenset()


def make_handler(spec: ServiceSpec, keys: Mapping[str, str], dispatch: Dispatch):
    async def handle(request: web.Request) -> web.StreamResponse:
        request_id = protocol.new_request_id()
        target = request.headers.get("X-Amz-Target")
        is_json = target is not None and spec.json_prefix is not None
        action = "?"
        try:
            body = await request.read()
            if len(body) > spec.max_body:
                raise AwsError("RequestEntityTooLarge", "Request body too large", status=413)
            raw_path, _, raw_query = request.raw_path.partition("?")
            if is_json:
                action, params = protocol.parse_json(target, spec.json_prefix, body)
            else:
                form = body if request.method == "POST" else b""
                action, params = protocol.parse_query(
                    protocol.parse_form(form, raw_query), spec.query_in)
            signed = "Authorization" in request.headers or "X-Amz-Signature" in raw_query
            if not signed and action in spec.anonymous_actions:
                access_key = ""
            else:
                access_key = sigv4.verify(
                    sigv4.Request(request.method, raw_path, raw_query, request.headers, body),
                    keys, spec.signing_name)
            ctx = Context(access_key=access_key, host=request.headers.get("Host", request.host),
                          path=request.path, scheme=request.scheme)
            result = await dispatch(action, params, ctx)
        except AwsError as err:
            log.info("%s -> %s", action, err.code)
            return _error(spec, err, request_id, is_json)
        except Exception:  # never leak internals (or secrets) to the client
            log.exception("%s failed", action)
            return _error(spec, internal_error(), request_id, is_json)
        headers = {"x-amzn-RequestId": request_id}
        if is_json:
            return web.Response(body=json.dumps(result or {}).encode(), headers=headers,
                                content_type=protocol.JSON_CONTENT_TYPE)
        renames = {**spec.query_out, **spec.query_out_by_action.get(action, {})}
        return web.Response(text=protocol.render_xml(action, result, spec.xmlns, request_id, renames),
                            headers=headers, content_type=protocol.XML_CONTENT_TYPE)
    return handle


def _error(spec: ServiceSpec, err: AwsError, request_id: str, is_json: bool) -> web.Response:
    headers = {"x-amzn-RequestId": request_id}
    if is_json:
        body, extra = protocol.render_json_error(err, spec.json_namespace)
        headers.update(extra)
        return web.Response(status=err.status, body=json.dumps(body).encode(), headers=headers,
                            content_type=protocol.JSON_CONTENT_TYPE)
    return web.Response(status=err.status, text=protocol.render_xml_error(err, request_id, spec.xmlns),
                        headers=headers, content_type=protocol.XML_CONTENT_TYPE)


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
