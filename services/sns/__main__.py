"""python -m services.sns --listen HOST:PORT --nats URL --credentials FILE
       [--signing-cert PEM --signing-key PEM] [--public-url URL]
       [--sqs-endpoint URL --sqs-credentials FILE [--sqs-profile NAME]] [--ca-file PEM]
       [--tls-cert PEM --tls-key PEM]"""

from __future__ import annotations

import argparse
import configparser
import logging

from services.awsapi import connections, nats_store, tls
from services.awsapi.credentials import load_credentials
from services.awsapi.server import parse_listen, serve
from .app import build
from .signing import Signer


def _profile_key(path: str, profile: str) -> tuple[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    for section in (profile, f"profile {profile}"):
        if parser.has_section(section):
            return (parser.get(section, "aws_access_key_id").strip(),
                    parser.get(section, "aws_secret_access_key").strip())
    raise SystemExit(f"no profile {profile} in {path}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m services.sns", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:9911")
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--credentials", required=True, help="aws-cli style INI of accepted access keys")
    ap.add_argument("--signing-cert", help="PEM certificate (issued by the cloud CA) for message signatures")
    ap.add_argument("--signing-key", help="PEM private key of --signing-cert")
    ap.add_argument("--public-url", help="base URL subscribers use to reach this service "
                                         "(SigningCertURL, SubscribeURL); default http(s)://LISTEN")
    ap.add_argument("--sqs-endpoint", help="SQS service URL for sqs subscriptions")
    ap.add_argument("--sqs-credentials", help="aws-cli style INI with the key SNS uses to call SQS")
    ap.add_argument("--sqs-profile", default="default")
    ap.add_argument("--ca-file", help="CA bundle to verify https subscribers and an https "
                                      "--sqs-endpoint with (the cloud CA's root)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account-id", default="000000000000")
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--log-level", default="WARNING")
    connections.add_arguments(ap)
    tls.add_arguments(ap)
    nats_store.add_login_arguments(ap)
    args = ap.parse_args(argv)
    ssl_context = tls.context_from(args, ap)   # a bad pair refused before anything starts
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    keys = load_credentials(args.credentials)
    if bool(args.signing_cert) != bool(args.signing_key):
        ap.error("--signing-cert and --signing-key go together")
    signer = Signer.from_files(args.signing_cert, args.signing_key) if args.signing_cert else Signer.self_signed()
    host, port = parse_listen(args.listen)
    limits = connections.limits_from(args)
    login = nats_store.login_from(args)
    public_url = args.public_url or f"{'https' if ssl_context else 'http'}://{host}:{port}"
    sqs_key = _profile_key(args.sqs_credentials, args.sqs_profile) if args.sqs_credentials else None

    async def factory():
        return await build(args.nats, keys, signer, public_url, args.sqs_endpoint, sqs_key,
                           args.region, args.account_id, args.replicas, args.ca_file, limits=limits,
                           nats_login=login)

    serve(factory(), host, port, limits, ssl_context)


if __name__ == "__main__":
    main()
