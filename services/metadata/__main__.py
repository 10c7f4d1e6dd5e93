"""`python -m services.metadata --listen HOST:PORT --config FILE`"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys

from aiohttp import web

from services import event_loop

from . import lease_push, signing
from .app import build_lease_receiver, build_service
from .config import ConfigError, load_config
from .limits import CallerCounts, gated
from .server import HANDLER, make_app

LOG = logging.getLogger("mammatus.metadata")


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


async def serve(app: web.Application, host: str, port: int, extra=()) -> None:
    """Serves `app` on host:port (shared with the workers), behind the per-caller connection
    cap, and each (app, host, port) of `extra` on a listener of its own (the lease push
    receiver: the first process only)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    runners = []
    for site_app, site_host, site_port in extra:
        extra_runner = web.AppRunner(site_app, access_log=None)
        await extra_runner.setup()
        await web.TCPSite(extra_runner, site_host, site_port).start()
        runners.append(extra_runner)
        LOG.info("listening on %s:%d", site_host, site_port)
    # The instance-facing listener last: its "listening on" line means every listener is up.
    runner, listener = await _listen_gated(app, host, port)
    runners.append(runner)
    gc.freeze()  # startup objects stay out of the collector's scans: steadier tail latency
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    listener.close()
    for runner in runners:
        await runner.cleanup()


async def _listen_gated(app: web.Application, host: str, port: int):
    """(runner, listening server) for the instance-facing app: idle connections closed after
    `limits.idle_timeout_seconds`, each caller's open connections capped."""
    service = app["service"]
    limits = service.config.limits
    # access_log=None: our handler logs, without secrets (server.make_handler).
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.idle_timeout_seconds)
    await runner.setup()
    runner.server.request_handler = app[HANDLER]  # without the router (server.HANDLER)
    connections = CallerCounts(limits.connections_per_caller)
    listener = await asyncio.get_running_loop().create_server(
        gated(runner.server, connections, uncounted=set(service.proxies)), host, port,
        reuse_port=True)
    LOG.info("listening on %s:%d", host, port)
    return runner, listener


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.metadata",
                                     description="Mammatus instance metadata service")
    parser.add_argument("--listen", type=parse_listen,
                        help="HOST:PORT (default: the config's `listen`)")
    parser.add_argument("--config", required=True, help="YAML config file (docs/metadata.md)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the port (SO_REUSEPORT); the service is "
                             "stateless, so they answer alike")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s")
    # The access log writes a line per request: skip what its format never shows (the caller's
    # source line, thread and process names; the Logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    if args.no_access_log:
        logging.getLogger("mammatus.metadata.access").setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        listen = args.listen or (parse_listen(config.listen) if config.listen else None)
        if listen is None:
            parser.error("no --listen and no `listen` in the config")
        if config.identity_signing is not None:   # a bad key stops the start, not a request
            signing.load(str(config.identity_signing.key_file),
                         str(config.identity_signing.cert_file))
        service = build_service(config)
        receiver = build_lease_receiver(config)
        push = (lease_push.make_app(receiver),
                *parse_listen(config.identity.lease_push.listen)) if receiver else None
    except (ConfigError, signing.SigningError, ValueError, OSError, argparse.ArgumentTypeError) as exc:
        print(f"metadata: {exc}", file=sys.stderr)
        return 2
    if config.tokens.secret_file is None:
        LOG.warning("tokens.secret_file not set: tokens are valid on this process only")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    # Fork after build_service: every worker holds the same token key.
    children = [pid for pid in (_fork_worker(service, listen) for _ in range(args.workers - 1))]
    try:
        event_loop.run(serve(make_app(service), *listen, extra=[push] if push else []))
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)
    return 0


def _fork_worker(service, listen) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        # Die with the parent even if it is SIGKILLed (prctl PR_SET_PDEATHSIG).
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)
        event_loop.run(serve(make_app(service), *listen))
    finally:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
