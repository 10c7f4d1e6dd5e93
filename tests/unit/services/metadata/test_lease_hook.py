import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from services.metadata import lease_hook
from services.metadata.lease_push import SIGNATURE_HEADER, sign

MAC = "02:00:00:00:00:02"


def test_an_add_event_takes_the_expiry_from_dnsmasq():
    event = lease_hook.event_of(["add", "02:00:00:00:00:AB", "10.0.0.10", "web"],
                                {"DNSMASQ_LEASE_EXPIRES": "1800003600"})
    assert event == {"action": "add", "mac": "02:00:00:00:00:ab", "ip": "10.0.0.10",
                     "hostname": "web", "expiry": 1800003600}


def test_an_event_without_hostname():
    assert lease_hook.event_of(["del", MAC, "10.0.0.10"], {})["hostname"] is None


@pytest.mark.parametrize("argv, env", [
    (["tftp", "1234", "10.0.0.10", "/srv/tftp/undionly.kpxe"], {}),
    (["arp-add", MAC, "10.0.0.10"], {}),
    (["add", "00:01:00:01", "fd00::10", "web"], {"DNSMASQ_IAID": "1"}),
    (["add", MAC, "fd00::10"], {}),
    (["init"], {}),
])
def test_calls_that_are_not_ipv4_leases_are_ignored(argv, env):
    assert lease_hook.event_of(argv, env) is None


def test_sync_reads_dnsmasq_lease_file(tmp_path):
    f = tmp_path / "dnsmasq.leases"
    f.write_text(f"1800003600 {MAC} 10.0.0.10 web 01:02\n0 02:00:00:00:00:03 10.0.0.11 * *\n")
    assert lease_hook.sync_events(f) == [
        {"action": "add", "mac": MAC, "ip": "10.0.0.10", "hostname": "web", "expiry": 1800003600},
        {"action": "add", "mac": "02:00:00:00:00:03", "ip": "10.0.0.11", "hostname": None,
         "expiry": 0}]
    assert lease_hook.sync_events(tmp_path / "missing") == []


def test_without_a_config_the_hook_does_nothing(tmp_path):
    assert lease_hook.main(["--config", str(tmp_path / "none.yaml"), "add", MAC, "10.0.0.10"],
                           env={}) == 0


@pytest.fixture
def sink():
    """A tiny HTTP server recording what the hook posts (status settable)."""
    got, status = [], [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, self.headers[SIGNATURE_HEADER], body))
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], got, status
    server.shutdown()


def write_config(tmp_path, port):
    key = tmp_path / "push.key"
    key.write_text("secret-key\n")
    config = tmp_path / "hook.yaml"
    config.write_text(f"url: http://127.0.0.1:{port}/v1/leases\nsecret_file: {key}\n")
    return config


def test_the_hook_posts_a_signed_event(tmp_path, sink):
    port, got, _ = sink
    config = write_config(tmp_path, port)
    assert lease_hook.main(["--config", str(config), "add", MAC, "10.0.0.10", "web"],
                           env={"DNSMASQ_LEASE_EXPIRES": "1800003600"}) == 0
    [(path, signature, body)] = got
    assert path == "/v1/leases" and signature == sign(b"secret-key", body)
    doc = json.loads(body)
    assert doc["sync"] is False and doc["leases"][0]["ip"] == "10.0.0.10"


def test_a_refused_push_fails_at_once(tmp_path, sink, capsys):
    port, got, status = sink
    status[0] = 403
    config = write_config(tmp_path, port)
    assert lease_hook.main(["--config", str(config), "--sync", str(tmp_path / "none")],
                           env={}) == 1
    assert len(got) == 1 and "refused the push: 403" in capsys.readouterr().err
