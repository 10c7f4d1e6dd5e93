"""python -m services.sqs --listen HOST:PORT --nats URL --credentials FILE
       [--tls-cert PEM --tls-key PEM]"""

from __future__ import annotations

import argparse
import logging

from services.awsapi import connections, nats_store, tls
from services.awsapi.credentials import load_credentials
from services.awsapi.server import parse_listen, serve
from .app import build


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m services.sqs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:9324")
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--credentials", required=True, help="aws-cli style INI of accepted access keys")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account-id", default="000000000000")
    ap.add_argument("--replicas", type=int, default=1, help="JetStream replicas (NATS cluster size)")
    ap.add_argument("--log-level", default="WARNING")
    connections.add_arguments(ap)
    tls.add_arguments(ap)
    nats_store.add_login_arguments(ap)
    args = ap.parse_args(argv)
    ssl_context = tls.context_from(args, ap)   # a bad pair refused before anything starts
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    keys = load_credentials(args.credentials)
    host, port = parse_listen(args.listen)
    limits = connections.limits_from(args)
    login = nats_store.login_from(args)

    async def factory():
        return await build(args.nats, keys, args.region, args.account_id, args.replicas, limits=limits, nats_login=login)

    serve(factory(), host, port, limits, ssl_context)


if __name__ == "__main__":
    main()
