"""The lease push listener of a real `python -m services.metadata` on loopback: what a careless
or hostile client gets (4xx, never 500), and a good push applied."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from services.metadata.lease_push import MAX_BODY, SIGNATURE_HEADER, encode, sign
from tests.support.daemons import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def push(make_server, tmp_path):
    key = tmp_path / "push.key"
    key.write_text(os.urandom(16).hex())
    port = free_port()
    make_server({"identity": {"leases": [], "lease_push": {
        "listen": f"127.0.0.1:{port}", "secret_file": str(key),
        "state_file": str(tmp_path / "pushed.leases")}}}, leases=[])
    return f"http://127.0.0.1:{port}", key.read_bytes().strip(), tmp_path / "pushed.leases"


def send(url, method="POST", body=b"", headers=None):
    request = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_signed_push_is_applied(push):
    url, key, state = push
    body = encode([{"action": "add", "mac": "02:00:00:00:00:02", "ip": "127.0.0.2",
                    "hostname": "web-1", "expiry": 0}], sync=False)
    status, text = send(f"{url}/v1/leases", body=body, headers={SIGNATURE_HEADER: sign(key, body)})
    assert (status, json.loads(text)) == (200, {"applied": 1})
    assert state.read_text() == "0 02:00:00:00:00:02 127.0.0.2 web-1 *\n"


@pytest.mark.parametrize("method, path, body, signed, status", [
    ("GET", "/v1/leases", b"", False, 405),
    ("POST", "/other", b"{}", True, 404),
    ("POST", "/v1/leases", b"{}", False, 403),
    ("POST", "/v1/leases", b"not json", True, 400),
    ("POST", "/v1/leases", b'{"sent": 1e18, "leases": []}', True, 403),
    ("POST", "/v1/leases", b"x" * (MAX_BODY + 10), True, 413),
])
def test_bad_requests_get_a_4xx(push, method, path, body, signed, status):
    url, key, state = push
    headers = {SIGNATURE_HEADER: sign(key, body)} if signed else {}
    got, _ = send(f"{url}{path}", method, body, headers)
    assert got == status
    assert not state.exists()
