"""The services' TLS flags (services/awsapi/tls.py); the handshake itself is tested against the
real processes (tests/integration/services/awsapi/test_tls.py)."""

import argparse
import ssl

import pytest

from services.awsapi import tls
from tests.support.pki import make_pki, write_server_files


def parse(*argv):
    parser = argparse.ArgumentParser()
    tls.add_arguments(parser)
    return parser, parser.parse_args(argv)


def test_tls_1_2_or_later_with_the_given_certificate(tmp_path):
    files = write_server_files(tmp_path, make_pki())
    parser, args = parse("--tls-cert", files.cert, "--tls-key", files.key)
    context = tls.context_from(args, parser)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_RENEGOTIATION
    assert context.verify_mode == ssl.CERT_NONE          # clients authenticate by SigV4


def test_without_flags_plain_http_and_one_flag_alone_is_refused(tmp_path):
    parser, args = parse()
    assert tls.context_from(args, parser) is None
    parser, args = parse("--tls-cert", str(tmp_path / "c.pem"))
    with pytest.raises(SystemExit):
        tls.context_from(args, parser)
