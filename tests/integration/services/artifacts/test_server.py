"""A real `python -m services.artifacts` on loopback: files below its root, byte for byte;
nothing else (no listing, no way out of the root, no writes)."""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys

import pytest

from tests.support.daemons import free_port, start, stop, wait_for_port
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("artifacts")
    root = tmp / "root"
    (root / "linux-amd64").mkdir(parents=True)
    body = os.urandom(300_000)
    (root / "linux-amd64" / "telegraf").write_bytes(body)
    (tmp / "secret").write_text("outside the root\n")
    (root / "linux-amd64" / "link").symlink_to(tmp / "secret")
    port = free_port()
    proc = start([sys.executable, "-m", "services.artifacts", "--listen", f"127.0.0.1:{port}",
                  "--root", str(root)], str(tmp / "log"), cwd=str(ROOT))
    wait_for_port(port, proc)
    yield port, body, tmp / "log"
    stop(proc)


def request(port: int, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def test_a_file_is_served_byte_for_byte(served):
    port, body, log = served
    status, got = request(port, "GET", "/linux-amd64/telegraf")
    assert status == 200 and hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    assert request(port, "HEAD", "/linux-amd64/telegraf") == (200, b"")
    assert "GET /linux-amd64/telegraf 200" in log.read_text()


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/", 403),                       # no listing
    ("GET", "/linux-amd64/", 403),
    ("GET", "/linux-amd64/nothing", 404),
    ("GET", "/linux-amd64/link", 404),       # a symlink out of the root
    ("GET", "/../secret", 404),
    ("GET", "/linux-amd64/%2e%2e/%2e%2e/secret", 404),
    ("PUT", "/linux-amd64/telegraf", 405),
    ("POST", "/linux-amd64/new", 405),
    ("DELETE", "/linux-amd64/telegraf", 405),
])
def test_nothing_else_is_served(served, method, path, status):
    port, _, _ = served
    got, body = request(port, method, path)
    assert got == status
    assert b"outside the root" not in body


def test_a_missing_root_is_refused_at_start(tmp_path):
    result = subprocess.run([sys.executable, "-m", "services.artifacts", "--listen",
                             "127.0.0.1:1", "--root", str(tmp_path / "none")], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "is not a directory" in result.stderr
