"""The HTTP layer (aiohttp): identity, tokens, long polling, errors and the access log.

Layouts are rendered by the pure modules (ec2, nocloud, openstack); this module only maps paths
to them. Every answer about an instance is computed for the *proven* identity of the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Optional

from aiohttp import web

from . import ec2, nocloud, openstack
from .config import Config
from .identity import Identity, Resolver, Unproven, source_address
from .inventory import InventoryError, LxdInventorySource
from .limits import RETRY_AFTER_SECONDS, CallerCounts
from .tokens import TokenError, TokenKey, TtlError, parse_ttl
from .tree import lookup, render

ACCESS = logging.getLogger("mammatus.metadata.access")
LOG = logging.getLogger("mammatus.metadata")

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_PATH = "/latest/api/token"
ANSWER_CACHE = 20000  # rendered answers kept (a few per instance and path)


def peer_address(request: web.Request) -> str:
    peer = request.remote or ""
    # A dual-stack listener ([::]:80) sees IPv4 instances as ::ffff:a.b.c.d.
    return peer[7:] if peer.startswith("::ffff:") and "." in peer else peer


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass(frozen=True)
class Answer:
    body: str
    content_type: str = "text/plain"


@dataclass
class Service:
    config: Config
    resolver: Resolver
    token_key: TokenKey
    proxies: dict[str, bytes] = field(default_factory=dict)
    clock: Callable[[], float] = time.time

    def __post_init__(self):
        # LXD answers over a blocking client: resolve in a thread then, inline otherwise.
        self._lxd = [s for s in self.resolver.inventory_sources
                     if isinstance(s, LxdInventorySource)]
        self._blocking = bool(self._lxd)
        self._answers: OrderedDict = OrderedDict()
        self.long_polls = CallerCounts(self.config.limits.long_polls_per_caller)

    def answer(self, ident: Identity, path: str) -> tuple[str, Answer, str]:
        """(layout, answer, etag), memoized: the key holds the whole identity (instance record
        included), so any change in what the cloud knows renders afresh."""
        key = (ident, path)
        hit = self._answers.get(key)
        if hit is not None:
            self._answers.move_to_end(key)
            return hit
        layout, answer = answer_for(self.config, ident, path)
        hit = (layout, answer, etag_of(answer.body))
        self._answers[key] = hit
        if len(self._answers) > ANSWER_CACHE:
            self._answers.popitem(last=False)
        return hit

    async def identify(self, request: web.Request) -> Identity:
        try:
            peer = peer_address(request)
            ip = source_address(peer, request.headers, self.proxies)
            if self._blocking and any(src.stale() for src in self._lxd):
                # A refresh is due: LXD's client blocks, keep it off the event loop.
                return await asyncio.get_running_loop().run_in_executor(
                    None, self.resolver.resolve, ip, ip == peer)
            return self.resolver.resolve(ip, on_link=ip == peer)
        except Unproven as exc:
            raise HttpError(403, f"instance identity not proven: {exc}") from None
        except InventoryError as exc:
            # Cannot check the caller now: refuse (retryable), never guess from stale data.
            LOG.error("identity source unavailable: %s", exc)
            raise HttpError(503, "identity sources unavailable, retry later") from None

    def check_token(self, request: web.Request, ident: Identity) -> None:
        """A token, if sent, must be valid for this caller; none at all is fine only while
        tokens are not required."""
        token = request.headers.get(TOKEN_HEADER)
        if token is None:
            if self.config.tokens.required:
                raise HttpError(401, f"a session token is required: PUT {TOKEN_PATH} first")
            return
        try:
            self.token_key.verify(token, ident, self.clock())
        except TokenError as exc:
            raise HttpError(401, str(exc)) from None


# -- routing: path -> Answer for one identity (pure given the config) -----------------------------

def answer_for(config: Config, ident: Identity, path: str) -> tuple[str, Answer]:
    """(layout, answer) for a GET path; HttpError(404) when there is nothing there."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "ec2", Answer("\n".join(ec2.VERSIONS))
    head = parts[0]
    if head in ec2.VERSIONS:
        if parts[1:] == ["api", "token"]:
            raise HttpError(405, f"use PUT {TOKEN_PATH}")
        node = _find(ec2.version_tree(config, ident), parts[1:], path)
        is_json = parts[1:] == ["dynamic", "instance-identity", "document"]
        return "ec2", Answer(render(node), "application/json" if is_json else "text/plain")
    if head == "mammatus":
        # /mammatus/v1/<kind>-credentials: this instance's own (telemetry, consul …).
        kind = parts[2].removesuffix("-credentials") if len(parts) == 3 and parts[1] == "v1" \
            and parts[2].endswith("-credentials") else None
        fields = ident.instance.credential(kind) if kind else None
        if fields is None:
            raise HttpError(404, f"not found: {path}")
        return "mammatus", Answer(json.dumps(fields, sort_keys=True), "application/json")
    if head == "nocloud":
        if len(parts) == 1:
            return "nocloud", Answer("\n".join(nocloud.FILES))
        render_file = nocloud.FILES.get(parts[1]) if len(parts) == 2 else None
        if render_file is None:
            raise HttpError(404, f"not found: {path}")
        return "nocloud", Answer(render_file(config, ident))
    if head == "openstack":
        if len(parts) == 1:
            return "openstack", Answer("\n".join(openstack.VERSIONS))
        if parts[1] not in openstack.VERSIONS or len(parts) > 3:
            raise HttpError(404, f"not found: {path}")
        if len(parts) == 2:
            names = [n for n in openstack.FILES
                     if n != "user_data" or ident.instance.user_data is not None]
            return "openstack", Answer("\n".join(names))
        render_file = openstack.FILES.get(parts[2])
        body = render_file(config, ident) if render_file else None
        if body is None:
            raise HttpError(404, f"not found: {path}")
        is_json = parts[2].endswith(".json")
        return "openstack", Answer(body, "application/json" if is_json else "text/plain")
    raise HttpError(404, f"not found: {path}")


def _find(tree, parts: list[str], path: str):
    try:
        return lookup(tree, "/".join(parts))
    except KeyError:
        raise HttpError(404, f"not found: {path}") from None


def etag_of(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _wait_params(request: web.Request, config: Config) -> Optional[tuple[Optional[str], float]]:
    """GCP-style long polling: (last_etag, timeout) or None when not asked to wait."""
    query = request.query
    wait = query.get("wait_for_change")
    if wait is None or wait.lower() == "false":
        return None
    if wait.lower() != "true":
        raise HttpError(400, "wait_for_change must be true or false")
    timeout = config.long_poll.max_timeout_seconds
    if "timeout_sec" in query:
        try:
            timeout = float(query["timeout_sec"])
        except ValueError:
            raise HttpError(400, "timeout_sec must be a number") from None
        if not 0 < timeout <= config.long_poll.max_timeout_seconds:
            raise HttpError(400, "timeout_sec must be > 0 and <= "
                                 f"{config.long_poll.max_timeout_seconds:g}")
    return query.get("last_etag"), timeout


# -- handlers ----------------------------------------------------------------------------------

SECRET_PREFIX = "/mammatus/"   # per-instance secrets: always behind a session token

async def handle_get(svc: Service, request: web.BaseRequest) -> web.Response:
    ident = await svc.identify(request)
    request["instance"] = ident.instance.name
    # Before any lookup, so a caller without a valid token learns nothing (not even a 404), on
    # every layout: a NoCloud or OpenStack path serves the same user-data as the EC2 one.
    svc.check_token(request, ident)
    if request.path.startswith(SECRET_PREFIX) and TOKEN_HEADER not in request.headers:
        # A secret is handed out only to a session (PUT /latest/api/token): a request that
        # a confused deputy on the instance (an SSRF) forwards has none.
        raise HttpError(401, f"a session token is required: PUT {TOKEN_PATH} first")
    wait = _wait_params(request, svc.config)
    layout, answer, tag = svc.answer(ident, request.path)
    if wait is not None:
        tag, answer = await _wait_for_change(request, svc, ident, wait, tag, answer)
    return web.Response(text=answer.body, content_type=answer.content_type,
                        headers={"ETag": tag})


async def _wait_for_change(request: web.Request, svc: Service, ident: Identity,
                           wait: tuple[Optional[str], float], tag: str, answer: Answer
                           ) -> tuple[str, Answer]:
    """Re-checks until the answer's ETag differs from `last` or the timeout passes, holding one
    of the caller's long-poll slots meanwhile."""
    caller = ident.ip
    if not svc.long_polls.acquire(caller):
        raise HttpError(429, "too many long polls from this caller (at most "
                             f"{svc.long_polls.cap}), retry later",
                        {"Retry-After": str(RETRY_AFTER_SECONDS)})
    try:
        last, timeout = wait
        last = last or tag  # no etag given: wait for a change from what is there now
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # A caller that hung up (transport gone) frees its slot now, not at the timeout.
        while tag == last and loop.time() < deadline and request.transport is not None:
            await asyncio.sleep(min(svc.config.long_poll.interval_seconds,
                                    max(0.0, deadline - loop.time())))
            ident = await svc.identify(request)  # removed meanwhile -> 403, never stale data
            _, answer, tag = svc.answer(ident, request.path)
        return tag, answer
    finally:
        svc.long_polls.release(caller)


def limit_hops(request: web.Request, hops: int) -> None:
    """Sets the IP TTL (IPv6 hop limit) of all this connection still sends: a router between
    the service and the caller drops the packets, so the answer only reaches a near caller."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None:
        return
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)  # also IPv4-mapped peers on [::]


async def handle_token(svc: Service, request: web.BaseRequest) -> web.Response:
    forwarded = request.headers.get("X-Forwarded-For")
    from_proxy = peer_address(request) in svc.proxies
    # AWS's SSRF defence: a token PUT that went through a proxy (in the instance) is refused.
    # A configured relay adds exactly one hop; more means the instance's request already had one.
    if forwarded is not None and (not from_proxy or "," in forwarded):
        raise HttpError(403, "token requests carrying X-Forwarded-For are refused")
    try:
        ttl = parse_ttl(request.headers.get(TTL_HEADER))
    except TtlError as exc:
        raise HttpError(400, str(exc)) from None
    ident = await svc.identify(request)
    request["instance"] = ident.instance.name
    token = svc.token_key.mint(ident, ttl, svc.clock())
    response = web.Response(text=token, content_type="text/plain",
                            headers={TTL_HEADER: str(ttl)})
    if not from_proxy:  # a relay is trusted to hold its instances to the limit itself
        limit_hops(request, svc.config.tokens.hop_limit)
        # The TTL stays on the socket for good: its retransmissions must not travel further than
        # the first try, so this connection ends here rather than serve more with TTL 1.
        response.force_close()
    return response


async def dispatch(svc: Service, request: web.BaseRequest) -> web.StreamResponse:
    if request.path == TOKEN_PATH and request.method == "PUT":
        return await handle_token(svc, request)
    if request.method in ("GET", "HEAD"):
        return await handle_get(svc, request)
    raise HttpError(405, f"method {request.method} not allowed")


def make_handler(service: Service):
    """The service's one request handler: every path and method, errors answered as ours, the
    access log line."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        logged = ACCESS.isEnabledFor(logging.INFO)  # off as deployed: no clock reads then
        started = time.perf_counter() if logged else 0.0
        try:
            response = await dispatch(service, request)
        except HttpError as exc:
            response = web.Response(status=exc.status, text=exc.message + "\n",
                                    content_type="text/plain", headers=exc.headers)
        except web.HTTPException as exc:
            response = exc
        except Exception:
            LOG.exception("error serving %s %s", request.method, request.path)
            response = web.Response(status=500, text="internal error\n", content_type="text/plain")
        if logged:
            # Path only, still percent-encoded (never the query, headers or body): no token or
            # user-data reaches the log, and no decoded newline can forge a log line.
            ACCESS.info('%s %s "%s %s" %d %.1fms', request.remote, request.get("instance", "-"),
                        request.method, request.rel_url.raw_path, response.status,
                        (time.perf_counter() - started) * 1000)
        return response

    return handle


# serve() hands requests to this handler straight from aiohttp's low-level server: every request
# goes to it anyway, and the router and the application's handler chain cost about a tenth of a
# request's CPU.
HANDLER = web.AppKey("metadata_handler", object)


def make_app(service: Service) -> web.Application:
    app = web.Application()
    app["service"] = service
    handler = make_handler(service)
    app.router.add_route("*", "/{tail:.*}", handler)
    app[HANDLER] = handler
    return app
