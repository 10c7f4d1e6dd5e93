"""Wire the SQS API onto aiohttp and NATS."""

from __future__ import annotations

from aiohttp import web

from services.awsapi.connections import DEFAULT_LIMITS, Limits
from services.awsapi.nats_store import connect_store
from services.awsapi.server import make_handler, route_everything
from .api import SqsApi
from .store import Store
from .wire import SPEC


async def build(nats_url: str, keys: dict[str, str], region: str = "us-east-1",
                account: str = "000000000000", replicas: int = 1,
                limits: Limits = DEFAULT_LIMITS, nats_login: dict | None = None) -> web.Application:
    nc, store = await connect_store(nats_url, "mammatus-sqs",
                                    lambda nc: Store(nc, region, account, replicas),
                                    **(nats_login or {}))
    api = SqsApi(store)

    async def dispatch(action, params, ctx):
        return await api.dispatch(action, params, ctx)

    app = web.Application(client_max_size=SPEC.max_body)
    handler = make_handler(SPEC, keys, dispatch, region=region, limits=limits)
    route_everything(app, handler)

    async def close(_app):
        await store.close()
        await nc.drain()

    app.on_cleanup.append(close)
    app["store"] = store
    return app
