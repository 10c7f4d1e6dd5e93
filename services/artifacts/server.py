"""The artifact server: the pinned builds instances install their agents from (Telegraf today),
read-only over HTTP on the LAN as `artifacts.<domain>`.

Only GET and HEAD of files below the root: no listing, no symlinks followed out of it, no
uploads (anything else is 405). Plain HTTP is enough for integrity: an instance checks every
file against the sha256 its vendor-data (from the metadata service) names, and nothing here is
secret."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from aiohttp import web

LOG = logging.getLogger("mammatus.artifacts")


@web.middleware
async def access_log(request: web.Request, handler) -> web.StreamResponse:
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        LOG.info("%s %s %s %d %.1fms", request.remote, request.method, request.path, status,
                 (time.monotonic() - started) * 1000)


def build_app(root: Path) -> web.Application:
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    app = web.Application(middlewares=[access_log])
    app.router.add_static("/", root, show_index=False, follow_symlinks=False)
    return app
