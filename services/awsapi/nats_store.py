"""The NATS side the SNS and SQS services share: one connection that retries forever, and the
service's JetStream-backed store on it, resynced after every reconnect."""

from __future__ import annotations

import asyncio
from typing import Callable

import nats


async def connect_store(nats_url: str, client_name: str, make_store: Callable):
    """(connection, started store); `make_store(nc)` builds the store on the connection."""
    holder: dict = {}

    async def reconnected():
        if "store" in holder:
            asyncio.create_task(holder["store"].resync())

    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                            name=client_name, reconnected_cb=reconnected)
    store = holder["store"] = make_store(nc)
    await store.start()
    return nc, store
