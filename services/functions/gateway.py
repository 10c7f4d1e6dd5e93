"""Invoking functions on the OpenFaaS gateway's invoke API: POST <gateway>/function/<name>
(synchronous: the function's own answer) or /async-function/<name> (the gateway queues the
call and answers 202), with HTTP basic auth as the gateway's admin.

What each trigger sends (headers `X-Mammatus-*`, which the gateway passes on to the function
as it does every header): `X-Mammatus-Trigger` (sns, sqs or cron) and what fired — the topic
and the SNS MessageId, the queue and the SQS MessageId, the schedule and its tick.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)

USER_AGENT = "mammatus-functions-connector"


def header_value(text: str) -> str:
    """A header-safe value: printable ASCII as it is, anything else percent-encoded."""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe=" !#$&'()*+,/:;=?@[]~")


def invoke_url(gateway: str, function: str, asynchronous: bool = False) -> str:
    return f"{gateway.rstrip('/')}/{'async-function' if asynchronous else 'function'}/{function}"


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(frozen=True)
class Invocation:
    function: str
    status: Optional[int]      # None: the gateway did not answer
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Gateway:
    def __init__(self, url: str, username: str, password: str, timeout: float = 60,
                 ca_file: Optional[str] = None):
        self.url, self.timeout, self.ca_file = url, timeout, ca_file
        self._auth = basic_auth(username, password)
        self._session: Optional[aiohttp.ClientSession] = None

    async def start(self) -> None:
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context) if context else None,
            headers={"User-Agent": USER_AGENT})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def invoke(self, function: str, body: bytes, headers: dict[str, str],
                     asynchronous: bool = False) -> Invocation:
        url = invoke_url(self.url, function, asynchronous)
        sent = {**{k: header_value(v) for k, v in headers.items()}, "Authorization": self._auth}
        started = time.monotonic()
        try:
            async with self._session.post(url, data=body, headers=sent,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                await r.read()
                result = Invocation(function, r.status)
        except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError) as exc:
            result = Invocation(function, None, type(exc).__name__)
        log.info("%s %s (%s): %s in %.2fs", "async-invoked" if asynchronous else "invoked",
                 function, headers.get("X-Mammatus-Trigger", "?"),
                 result.status if result.status is not None else f"no answer ({result.error})",
                 time.monotonic() - started)
        return result
