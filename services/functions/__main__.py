"""python -m services.functions --config FILE [--log-level LEVEL]

The functions connector (services/functions): invokes functions on the OpenFaaS gateway's
invoke API from SNS topics (as their http(s) subscriber), SQS queues (long polling) and cron
schedules, as the config file says (services/functions/config.py). A config that cannot work
stops it at startup, naming the key."""

from __future__ import annotations

import argparse
import logging
import sys

from services.awsapi import tls
from services.awsapi.connections import DEFAULT_LIMITS
from services.awsapi.server import serve
from .app import build, load_roots
from .config import ConfigError, load, load_secrets


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m services.functions", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="the connector's config (JSON or YAML)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load(args.config)
        secrets = load_secrets(config)
        roots = load_roots(config)
        context = tls.server_context(str(config.tls.cert_file), str(config.tls.key_file)) \
            if config.tls else None
    except ConfigError as exc:
        sys.exit(f"python -m services.functions: {exc}")
    except (OSError, ValueError) as exc:   # the TLS pair
        sys.exit(f"python -m services.functions: tls: {exc}")
    host, port = config.host_port
    serve(build(config, secrets, roots), host, port, DEFAULT_LIMITS, context)


if __name__ == "__main__":
    main()
