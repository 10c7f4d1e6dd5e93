"""Wire the SNS API, its delivery worker and the signing certificate onto aiohttp and NATS."""

from __future__ import annotations

import ssl

import aiohttp
from aiohttp import web

from services.awsapi.connections import DEFAULT_LIMITS, Limits
from services.awsapi.nats_store import connect_store
from services.awsapi.server import make_handler
from .api import SnsApi
from .delivery import Deliverer, SqsSender
from .signing import Signer
from .store import SnsStore
from .wire import SPEC


async def build(nats_url: str, keys: dict[str, str], signer: Signer, public_url: str,
                sqs_endpoint: str | None = None, sqs_key: tuple[str, str] | None = None,
                region: str = "us-east-1", account: str = "000000000000", replicas: int = 1,
                ca_file: str | None = None, limits: Limits = DEFAULT_LIMITS,
                nats_login: dict | None = None) -> web.Application:
    nc, store = await connect_store(nats_url, "mammatus-sns",
                                    lambda nc: SnsStore(nc, region, account, replicas),
                                    **(nats_login or {}))
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else None
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx) if ctx else None)
    sqs = SqsSender(session, sqs_endpoint, sqs_key[0], sqs_key[1], region) if sqs_endpoint and sqs_key else None
    deliverer = Deliverer(store, signer, public_url, sqs, session)
    deliverer.start()
    api = SnsApi(store, deliverer)

    async def dispatch(action, params, context):
        return await api.dispatch(action, params, context)

    async def cert(_request):
        return web.Response(body=signer.cert_pem, content_type="application/x-pem-file")

    app = web.Application(client_max_size=SPEC.max_body)
    app.router.add_get("/" + signer.cert_name, cert)
    app.router.add_route("*", "/{tail:.*}", make_handler(SPEC, keys, dispatch, region=region, limits=limits))

    async def close(_app):
        await deliverer.close()
        await store.close()
        await session.close()
        await nc.drain()

    app.on_cleanup.append(close)
    return app
