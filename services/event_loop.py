"""The event loop Mammatus' services run on: uvloop's for plain HTTP where it is installed (a
request costs less CPU and waits less than on asyncio's), asyncio's own with TLS, where a
connection is upgraded with loop.start_tls and uvloop's (0.23) now and then stalls a handshake
whose last message arrives with the first request (tests/integration/services/awsapi/
test_tls.py)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine, Optional


def factory(tls: bool) -> Optional[Callable[[], asyncio.AbstractEventLoop]]:
    if tls:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, Any], tls: bool = False) -> Any:
    """asyncio.run(main) on the loop `factory` picks."""
    with asyncio.Runner(loop_factory=factory(tls)) as runner:
        return runner.run(main)
