"""Connection limits for the AWS-compatible services: caps per peer and in total, slow headers.

aiohttp (3.14, checked in its web_protocol.py) bounds the idle time of a connection with
keepalive_timeout (armed when the connection opens and after every response; it closes only a
connection whose handler is waiting for the next request) and the size of a request line and
headers (max_line_size, max_field_size, max_headers). It has no deadline for headers that trickle
in and no cap on connections: a client could hold thousands open by sending a byte now and then.
ConnectionGuard adds both, as a protocol wrapped around aiohttp's, so it sees every connection
before aiohttp spends anything on it. The body has its own deadline in server.read_body.

With TLS the guard is outside the handshake too (it upgrades an admitted connection itself,
loop.start_tls): a connection is counted from accept, not from a finished handshake, and one
whose handshake takes longer than header_timeout is closed, so clients that never finish one
hold no more than the caps allow.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 15.0   # first byte of a request -> its headers complete
    body_timeout: float = 30.0     # headers complete -> whole body read (12 MiB at 400 KiB/s)
    idle_timeout: float = 30.0     # keep-alive: no new request for this long closes the connection
    max_connections: int = 512     # stays below the usual 1024 open-files limit
    max_connections_per_peer: int = 64  # an SDK pools 10 per client: several clients per host


DEFAULT_LIMITS = Limits()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DEFAULT_LIMITS
    parser.add_argument("--header-timeout", type=float, default=d.header_timeout,
                        help="seconds a request's headers may take to arrive")
    parser.add_argument("--body-timeout", type=float, default=d.body_timeout,
                        help="seconds a request's body may take to arrive")
    parser.add_argument("--idle-timeout", type=float, default=d.idle_timeout,
                        help="seconds an idle keep-alive connection stays open")
    parser.add_argument("--max-connections", type=int, default=d.max_connections)
    parser.add_argument("--max-connections-per-peer", type=int, default=d.max_connections_per_peer)


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(args.header_timeout, args.body_timeout, args.idle_timeout,
                  args.max_connections, args.max_connections_per_peer)


def _peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


class ConnectionGuard:
    """Admits connections within the caps and times out slow request headers.

    A connection over a cap is closed at once, before a byte is read, rather than answered with
    a 503: a 503 would have to be written before the request arrives (so a client would often see
    a reset anyway, the kernel resetting a socket closed with unread data), and costs a response
    per attempt to a peer that is already holding too many connections. SDKs retry a dropped
    connection as they retry a 503.
    """

    WARN_EVERY = 60.0  # seconds between refusal warnings: a flood must not flood the log too

    def __init__(self, limits: Limits, ssl_context: ssl.SSLContext | None = None):
        self.limits = limits
        self.ssl_context = ssl_context
        self.total = 0
        self.per_peer: Counter[str] = Counter()
        self._connections: dict[asyncio.BaseTransport, _GuardedConnection] = {}
        self._last_warning = 0.0

    def protocol_factory(self, make_protocol: Callable[[], asyncio.Protocol]):
        return lambda: _GuardedConnection(self, make_protocol)

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        """Tells the connection when a request's headers are in and when it has been handled."""
        return await self.around(handler)(request)

    def around(self, handler):
        """`handler` with what the middleware does around it, for aiohttp's low-level server."""
        async def guarded(request: web.BaseRequest):
            connection = self._connections.get(request.transport)
            if connection is not None:
                connection.headers_received()
            try:
                return await handler(request)
            finally:
                if connection is not None:
                    connection.request_done()
        return guarded

    def admit(self, peer: str) -> bool:
        if self.total >= self.limits.max_connections:
            self._refused(peer, f"{self.total} connections in total")
            return False
        if self.per_peer[peer] >= self.limits.max_connections_per_peer:
            self._refused(peer, f"{self.per_peer[peer]} connections from it")
            return False
        self.total += 1
        self.per_peer[peer] += 1
        return True

    def serving(self, transport: asyncio.BaseTransport, connection: "_GuardedConnection") -> None:
        """The transport aiohttp's requests carry (the TLS one with TLS), for the middleware."""
        self._connections[transport] = connection

    def release(self, peer: str, transport: asyncio.BaseTransport | None) -> None:
        if transport is not None:
            self._connections.pop(transport, None)
        self.total -= 1
        self.per_peer[peer] -= 1
        if self.per_peer[peer] <= 0:
            del self.per_peer[peer]

    def _refused(self, peer: str, why: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= self.WARN_EVERY:
            self._last_warning = now
            log.warning("refusing connections (from %s: %s); further refusals logged at debug", peer, why)
        else:
            log.debug("refused a connection from %s: %s", peer, why)


class _GuardedConnection(asyncio.Protocol):
    """One client connection: admitted by the guard, with TLS upgraded, then handed to aiohttp's
    protocol."""

    def __init__(self, guard: ConnectionGuard, make_protocol: Callable[[], asyncio.Protocol]):
        self.guard = guard
        self.make_protocol = make_protocol
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.counted = False  # admitted, not yet released
        self.busy = False  # a request's headers are in and its handler runs
        self._header_deadline: asyncio.TimerHandle | None = None
        self._early: list[bytes] = []  # decrypted before aiohttp's protocol was attached
        self._handshake: asyncio.Task | None = None  # held: the loop keeps only a weak reference

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.peer = _peer_address(transport)
        if not self.guard.admit(self.peer):
            transport.abort()
            return
        self.counted = True
        if self.guard.ssl_context is None:
            self._serve(transport)
            return
        # Nothing read before the TLS layer is in place (start_tls resumes reading).
        transport.pause_reading()
        self._handshake = asyncio.ensure_future(self._upgrade(transport))

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        try:
            secure = await loop.start_tls(transport, self, self.guard.ssl_context, server_side=True,
                                          ssl_handshake_timeout=self.guard.limits.header_timeout)
        except Exception as exc:  # noqa: BLE001 - a failed or slow handshake is the client's
            log.info("TLS handshake with %s failed: %s", self.peer, str(exc) or type(exc).__name__)
            self._release()
            return
        if self.counted and secure is not None:  # not lost meanwhile
            self._serve(secure)

    def _serve(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.guard.serving(transport, self)
        self.inner = self.make_protocol()
        self.inner.connection_made(transport)
        early, self._early = self._early, []
        for data in early:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            # TLS: what came with the end of the handshake, before _serve ran.
            if self.counted:
                self._early.append(data)
            return
        if not self.busy and self._header_deadline is None:  # the first byte of a request
            loop = asyncio.get_running_loop()
            self._header_deadline = loop.call_later(self.guard.limits.header_timeout, self._too_slow)
        self.inner.data_received(data)

    def headers_received(self) -> None:
        self.busy = True
        self._cancel_deadline()

    def request_done(self) -> None:
        self.busy = False

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.busy and self.transport is not None:
            log.info("closing a connection from %s: request headers took over %ss",
                     self.peer, self.guard.limits.header_timeout)
            self.transport.close()

    def _cancel_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _release(self) -> None:
        if self.counted:
            self.counted = False
            self.guard.release(self.peer, self.transport)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._release()
        self._early = []
        if self.inner is None:  # refused, or lost during its handshake
            return
        self.inner.connection_lost(exc)
        self.inner = None
        self.transport = None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()
