"""Connection limits for the AWS-compatible services: caps per peer and in total, slow headers.

aiohttp (3.14, checked in its web_protocol.py) bounds the idle time of a connection with
keepalive_timeout (armed when the connection opens and after every response; it closes only a
connection whose handler is waiting for the next request) and the size of a request line and
headers (max_line_size, max_field_size, max_headers). It has no deadline for headers that trickle
in and no cap on connections: a client could hold thousands open by sending a byte now and then.
ConnectionGuard adds both, as a protocol wrapped around aiohttp's, so it sees every connection
before aiohttp spends anything on it. The body has its own deadline in server.read_body.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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

    def __init__(self, limits: Limits):
        self.limits = limits
        self.total = 0
        self.per_peer: Counter[str] = Counter()
        self._connections: dict[asyncio.BaseTransport, _GuardedConnection] = {}
        self._last_warning = 0.0

    def protocol_factory(self, make_protocol: Callable[[], asyncio.Protocol]):
        return lambda: _GuardedConnection(self, make_protocol)

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        """Tells the connection when a request's headers are in and when it has been handled."""
        connection = self._connections.get(request.transport)
        if connection is not None:
            connection.headers_received()
        try:
            return await handler(request)
        finally:
            if connection is not None:
                connection.request_done()

    def admit(self, peer: str, transport: asyncio.BaseTransport, connection: "_GuardedConnection") -> bool:
        if self.total >= self.limits.max_connections:
            self._refused(peer, f"{self.total} connections in total")
            return False
        if self.per_peer[peer] >= self.limits.max_connections_per_peer:
            self._refused(peer, f"{self.per_peer[peer]} connections from it")
            return False
        self.total += 1
        self.per_peer[peer] += 1
        self._connections[transport] = connection
        return True

    def release(self, peer: str, transport: asyncio.BaseTransport) -> None:
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
    """One client connection: admitted by the guard, then handed to aiohttp's protocol."""

    def __init__(self, guard: ConnectionGuard, make_protocol: Callable[[], asyncio.Protocol]):
        self.guard = guard
        self.make_protocol = make_protocol
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.busy = False  # a request's headers are in and its handler runs
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.peer = _peer_address(transport)
        if not self.guard.admit(self.peer, transport, self):
            transport.abort()
            return
        self.transport = transport
        self.inner = self.make_protocol()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
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

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:  # refused: never counted
            return
        self._cancel_deadline()
        self.guard.release(self.peer, self.transport)
        self.inner.connection_lost(exc)
        self.inner = None
        self.transport = None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()
