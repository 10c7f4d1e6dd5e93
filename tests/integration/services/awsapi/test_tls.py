"""The connection guard (services/awsapi/connections.py) in front of the TLS handshake: the real
SQS process over HTTPS with small limits. Connections that never start a handshake count against
the caps and are closed after --header-timeout; requests arriving with the end of a handshake
are served."""

from __future__ import annotations

import http.client
import socket
import ssl
import time

import pytest

from tests.integration.services.sqs import conftest as sqs_fixtures
from tests.integration.services.sqs.procs import Service, write_credentials

pytestmark = pytest.mark.integration

nats_server = sqs_fixtures.nats_server
tls_files = sqs_fixtures.tls_files

HEADER_TIMEOUT, MAX_PER_PEER = 1.0, 3


@pytest.fixture(scope="module")
def limited_tls_sqs(nats_server, tls_files, tmp_path_factory):
    d = tmp_path_factory.mktemp("limited-tls-sqs")
    creds = write_credentials(d / "credentials")
    svc = Service("services.sqs", [
        "--nats", nats_server.url, "--credentials", str(creds),
        "--tls-cert", tls_files.cert, "--tls-key", tls_files.key,
        "--header-timeout", str(HEADER_TIMEOUT), "--max-connections-per-peer", str(MAX_PER_PEER),
        "--log-level", "INFO"], d / "sqs.log", scheme="https").start()
    yield svc
    svc.stop()


def _context(root: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=root)


def _status(port: int, root: str) -> int:
    """One unsigned request on a new TLS connection (SQS answers 403 MissingAuthenticationToken)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=_context(root), timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status
    finally:
        conn.close()


def _silent(port: int) -> socket.socket:
    """A TCP connection that never sends a ClientHello."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_connections_still_in_their_handshake_count_against_the_per_peer_cap(limited_tls_sqs, tls_files):
    port = limited_tls_sqs.port
    time.sleep(HEADER_TIMEOUT + 0.5)   # the start-up probe's connection is gone
    silent = [_silent(port) for _ in range(MAX_PER_PEER)]
    try:
        time.sleep(0.2)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _status(port, tls_files.root)      # over the cap: closed on accept, no handshake
    finally:
        for s in silent:
            s.close()
    time.sleep(0.2)
    assert _status(port, tls_files.root) == 403   # released: served again


def test_a_handshake_that_never_comes_is_closed_after_the_header_timeout(limited_tls_sqs):
    sock = _silent(limited_tls_sqs.port)
    try:
        assert _closed_by_server(sock, within=HEADER_TIMEOUT + 3)
    finally:
        sock.close()


def test_every_request_on_a_fresh_tls_connection_is_answered(limited_tls_sqs, tls_files):
    # The request often arrives with the client's last handshake message: none may be lost.
    assert [_status(limited_tls_sqs.port, tls_files.root) for _ in range(30)] == [403] * 30
