"""Running a coroutine from a synchronous test without touching the thread's event loop.

asyncio.run() leaves the main thread with no current loop, which breaks code that asks for
one later in the same pytest process (Pulumi's mocks in the unit tests do)."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
