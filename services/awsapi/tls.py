"""TLS for the AWS-compatible services: `--tls-cert FILE --tls-key FILE`, a certificate (its
chain after it) from the cloud's CA. Without them a service speaks plain HTTP.

The handshake itself is done by the connection guard (connections.py), so a connection is
counted against the caps before it has sent a byte, and one that never finishes its handshake
is closed after --header-timeout."""

from __future__ import annotations

import argparse
import ssl


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """TLS 1.2 or later with Python's default (modern, forward-secret) ciphers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # A client may not renegotiate: each renegotiation costs the server a handshake.
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(cert_file, key_file)
    return context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls-cert", help="PEM certificate to serve HTTPS with (the leaf, then "
                                           "its intermediates); plain HTTP without it")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")


def context_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ssl.SSLContext | None:
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
