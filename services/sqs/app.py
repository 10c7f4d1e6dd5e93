"""Wire the SQS API onto aiohttp and NATS."""

from __future__ import annotations

import asyncio

import nats
from aiohttp import web

from services.awsapi.server import make_handler
from .api import SqsApi
from .store import Store
from .wire import SPEC


async def build(nats_url: str, keys: dict[str, str], region: str = "us-east-1",
                account: str = "000000000000", replicas: int = 1) -> web.Application:
    holder: dict = {}

    async def reconnected():
        if "store" in holder:
            asyncio.create_task(holder["store"].resync())

    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                            name="mammatus-sqs", reconnected_cb=reconnected)
    store = holder["store"] = Store(nc, region, account, replicas)
    await store.start()
    api = SqsApi(store)

    async def dispatch(action, params, ctx):
        return await api.dispatch(action, params, ctx)

    app = web.Application(client_max_size=SPEC.max_body)
    handler = make_handler(SPEC, keys, dispatch)
    app.router.add_route("*", "/{tail:.*}", handler)

    async def close(_app):
        await store.close()
        await nc.drain()

    app.on_cleanup.append(close)
    app["store"] = store
    return app
