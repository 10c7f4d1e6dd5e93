"""The NATS side the SNS and SQS services share: one connection that retries forever, and the
service's JetStream-backed store on it, resynced after every reconnect."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import nats

from services.awsapi.errors import service_unavailable

log = logging.getLogger(__name__)


def add_login_arguments(ap) -> None:
    ap.add_argument("--nats-user", help="log in to NATS as this user")
    ap.add_argument("--nats-password-file", help="the NATS user's password (a file: never a flag)")


def login_from(args) -> dict:
    """connect_store's user/password from --nats-user/--nats-password-file."""
    if not args.nats_user:
        return {}
    if not args.nats_password_file:
        raise SystemExit("--nats-user needs --nats-password-file")
    with open(args.nats_password_file) as f:
        return {"user": args.nats_user, "password": f.read().strip()}


async def connect_store(nats_url: str, client_name: str, make_store: Callable,
                        user: str | None = None, password: str | None = None):
    """(connection, started store); `make_store(nc)` builds the store on the connection. With
    `user`, it logs in as that NATS user (the password read from a file by the caller)."""
    holder: dict = {}

    async def reconnected():
        if "store" in holder:
            asyncio.create_task(holder["store"].resync())

    login = {"user": user, "password": password} if user else {}
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                            name=client_name, reconnected_cb=reconnected, **login)
    store = holder["store"] = make_store(nc)
    await store.start()
    return nc, store


# What a NATS request raises when the server is slow, away or has no JetStream responder.
NATS_UNAVAILABLE = (nats.errors.TimeoutError, asyncio.TimeoutError, nats.errors.NoRespondersError,
                    nats.errors.ConnectionClosedError, nats.errors.NoServersError,
                    nats.errors.ConnectionReconnectingError, nats.errors.StaleConnectionError)


async def answer_or_unavailable(call):
    """Awaits an API call; a NATS failure nobody handled on the way becomes AWS's 503 (a
    deliberate answer, where it would otherwise be a 500 or a wrong success)."""
    try:
        return await call
    except NATS_UNAVAILABLE as e:
        log.warning("NATS unavailable: %s", type(e).__name__)
        raise service_unavailable() from None
