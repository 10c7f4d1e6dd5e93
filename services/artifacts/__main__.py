"""python -m services.artifacts --listen ADDRESS:PORT --root DIR

Serves DIR read-only over HTTP (services/artifacts/server.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aiohttp import web

from services import event_loop
from services.awsapi.server import parse_listen

from .server import build_app


async def serve(app: web.Application, host: str, port: int) -> None:
    import asyncio

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logging.getLogger("mammatus.artifacts").info("listening on %s:%d", host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m services.artifacts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="ADDRESS:PORT (the host's LAN address)")
    ap.add_argument("--root", required=True, type=Path, help="the directory served")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        app = build_app(args.root)
        host, port = parse_listen(args.listen)
    except (ValueError, OSError) as exc:
        print(f"artifacts: {exc}", file=sys.stderr)
        return 2
    try:
        event_loop.run(serve(app, host, port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
