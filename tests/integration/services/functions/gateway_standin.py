"""A STAND-IN for the OpenFaaS gateway's invoke API, not OpenFaaS: faasd cannot run on this
machine (no registry serves it, its containerd or its images). It answers what the connector
uses as the gateway does: POST /function/<name> (the function's answer: 200, or the status a
test sets, e.g. 500 for a failing function) and /async-function/<name> (202 with an
X-Call-Id), 404 for a function not deployed, and basic auth as admin on both (401 without
it, as faasd's gateway with basic auth on). It records every invocation it let in."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from tests.support.daemons import free_port


@dataclass
class Invocation:
    function: str
    asynchronous: bool
    headers: dict[str, str]
    body: bytes
    at: float


class GatewayStandIn:
    def __init__(self, password: str, functions: list[str], username: str = "admin"):
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.functions = set(functions)
        self.statuses: dict[str, int] = {}
        self.invocations: list[Invocation] = []
        self.unauthorized = 0
        self.port = free_port()
        self._lock = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _invoke(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.expected:
            with self._lock:
                self.unauthorized += 1
            return web.Response(status=401, text="Unauthorized",
                                headers={"WWW-Authenticate": 'Basic realm="Restricted"'})
        name = request.match_info["name"]
        if name not in self.functions:
            return web.Response(status=404, text=f"error finding function {name}")
        asynchronous = request.path.startswith("/async-function/")
        record = Invocation(name, asynchronous, dict(request.headers), await request.read(),
                            time.time())
        with self._lock:
            self.invocations.append(record)
            self._lock.notify_all()
        if asynchronous:
            return web.Response(status=202, headers={"X-Call-Id": str(uuid.uuid4())})
        return web.Response(status=self.statuses.get(name, 200), text="done")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/function/{name}", self._invoke)
        app.router.add_post("/async-function/{name}", self._invoke)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._started.set()
        self._loop.run_forever()

    def start(self) -> "GatewayStandIn":
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        async def cleanup():
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def of(self, function: str) -> list[Invocation]:
        with self._lock:
            return [i for i in self.invocations if i.function == function]

    def wait_for(self, function: str, count: int = 1, timeout: float = 30.0) -> list[Invocation]:
        with self._lock:
            self._lock.wait_for(lambda: len([i for i in self.invocations
                                             if i.function == function]) >= count, timeout)
        return self.of(function)
