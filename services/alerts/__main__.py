"""python -m services.alerts --listen 127.0.0.1:PORT --password-file FILE
       --sns-endpoint URL (--topic-arn ARN | --topic-arn-file FILE) --credentials FILE
       [--ca-file PEM]

Kapacitor's alerts (POST /kapacitor, Basic auth as `kapacitor` with the password in FILE) to the
SNS topic (services/alerts/relay.py)."""

from __future__ import annotations

import argparse
import configparser
import logging

from aiohttp import web

from services.awsapi.server import parse_listen
from .relay import Relay, SnsTarget, build_app


def default_key(path: str) -> tuple[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    with open(path, encoding="utf-8") as fh:
        parser.read_file(fh)
    if not parser.has_section("default"):
        raise SystemExit(f"no [default] access key in {path}")
    return (parser.get("default", "aws_access_key_id").strip(),
            parser.get("default", "aws_secret_access_key").strip())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m services.alerts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:9094")
    ap.add_argument("--password-file", required=True, help="the password Kapacitor posts with")
    ap.add_argument("--sns-endpoint", required=True)
    topic = ap.add_mutually_exclusive_group(required=True)
    topic.add_argument("--topic-arn")
    topic.add_argument("--topic-arn-file", help="a file holding the topic's ARN")
    ap.add_argument("--credentials", required=True, help="aws-cli style INI: [default] signs")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--ca-file", help="the root an https SNS endpoint is verified with")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with open(args.password_file, encoding="utf-8") as fh:
        password = fh.read().strip()
    if not password:
        ap.error(f"{args.password_file} is empty")
    key, secret = default_key(args.credentials)
    topic_arn = args.topic_arn
    if args.topic_arn_file:
        with open(args.topic_arn_file, encoding="utf-8") as fh:
            topic_arn = fh.read().strip()
    host, port = parse_listen(args.listen)
    relay = Relay(SnsTarget(args.sns_endpoint, topic_arn, key, secret, args.region,
                            args.ca_file), "kapacitor", password)
    web.run_app(build_app(relay), host=host, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
