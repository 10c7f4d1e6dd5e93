"""Per-caller caps: how many connections and long polls one caller may hold at once.

A caller over a cap gets `429 Too Many Requests` with `Retry-After`: the limit is that caller's
own (everyone else is still served), which is what 429 says; 503 would say the service is down.
Counts are per process (with --workers N a caller may hold N times as much).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Callable, Collection, Optional

ACCESS = logging.getLogger("mammatus.metadata.access")
RETRY_AFTER_SECONDS = 1
# How long a refused connection may keep sending before it is closed (its 429 is read by then).
REFUSED_LINGER_SECONDS = 1.0


class CallerCounts:
    """How many of something each caller holds now, never more than `cap`."""

    def __init__(self, cap: int):
        self.cap = cap
        self._held: Counter = Counter()

    def acquire(self, caller: str) -> bool:
        if self._held[caller] >= self.cap:
            return False
        self._held[caller] += 1
        return True

    def release(self, caller: str) -> None:
        self._held[caller] -= 1
        if self._held[caller] <= 0:
            del self._held[caller]


def too_many(what: str, cap: int) -> bytes:
    body = f"too many {what} from this caller (at most {cap}), retry later\n".encode()
    return (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Retry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (RETRY_AFTER_SECONDS, len(body), body))


def caller_of(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername") or ("",)
    host = peer[0]
    # A dual-stack listener sees IPv4 callers as ::ffff:a.b.c.d: count them as a.b.c.d.
    return host[7:] if host.startswith("::ffff:") and "." in host else host


class CallerGate(asyncio.Protocol):
    """Wraps the HTTP server's protocol for one connection: admitted while the caller holds fewer
    than the cap, otherwise answered 429 at once and closed, before any parsing or handler."""

    def __init__(self, make_inner: Callable[[], asyncio.Protocol], connections: CallerCounts,
                 uncounted: Collection[str]):
        self._make_inner, self._connections, self._uncounted = make_inner, connections, uncounted
        self._inner: Optional[asyncio.Protocol] = None  # made for admitted connections only
        self._caller: Optional[str] = None
        self._counted = self._admitted = False
        self._linger: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._caller = caller_of(transport)
        if self._caller in self._uncounted:
            self._admitted = True
        else:
            self._admitted = self._counted = self._connections.acquire(self._caller)
        if self._admitted:
            self._inner = self._make_inner()
            self._inner.connection_made(transport)
            return
        ACCESS.info('%s - "-" 429 over %d connections', self._caller, self._connections.cap)
        transport.write(too_many("connections", self._connections.cap))
        # Half-close and read what the client still sends: closing with unread data would
        # reset the connection and could destroy the 429 before the client reads it.
        transport.write_eof()
        self._linger = asyncio.get_running_loop().call_later(
            REFUSED_LINGER_SECONDS, transport.close)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if self._linger is not None:
            self._linger.cancel()
        if self._counted:
            self._connections.release(self._caller)
            self._counted = False
        if self._admitted:
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> Optional[bool]:
        return self._inner.eof_received() if self._admitted else False

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


def gated(protocol_factory: Callable[[], asyncio.Protocol], connections: CallerCounts,
          uncounted: Collection[str] = ()) -> Callable[[], CallerGate]:
    """A protocol factory for loop.create_server: `protocol_factory`'s, behind a CallerGate."""
    return lambda: CallerGate(protocol_factory, connections, uncounted)
