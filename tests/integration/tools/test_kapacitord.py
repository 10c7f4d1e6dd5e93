"""The kapacitord tools/bootstrap builds (.tools/dist/linux-amd64/kapacitord: Kapacitor v1.7.6 with
Flux's libflux built from its Rust source) run on loopback against no InfluxDB: it answers ping,
takes a stream TICKscript task over its HTTP API, and a point written to its own write endpoint
makes the alert POST Kapacitor's alert JSON to a listener here — the body a relay parses."""

from __future__ import annotations

import base64
import http.server
import json
import os
import queue
import threading
import urllib.error
import urllib.request

import pytest

from tests.support.daemons import free_port, start, stop, wait_for_port
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

BINARY = ROOT / ".tools" / "dist" / "linux-amd64" / "kapacitord"


class Listener:
    """A tiny HTTP server on 127.0.0.1 that queues every POST it gets (headers, JSON body)."""

    def __init__(self):
        self.posts: queue.Queue = queue.Queue()
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posts.put((self.path, dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 10.0):
        return self.posts.get(timeout=timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def config(data: str, port: int, relay_url: str) -> str:
    """Kapacitor on loopback with nothing outside: no InfluxDB, no usage reporting, no stats."""
    return f"""
hostname = "127.0.0.1"
data_dir = "{data}"
skip-config-overrides = true
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[replay]
  dir = "{data}/replay"
[storage]
  boltdb = "{data}/kapacitor.db"
[[influxdb]]
  enabled = false
  name = "default"
  urls = ["http://127.0.0.1:9"]
[reporting]
  enabled = false
[stats]
  enabled = false
[[httppost]]
  endpoint = "relay"
  url = "{relay_url}/relay"
  [httppost.basic-auth]
    username = "kapacitor"
    password = "relay-pw"
[logging]
  file = "STDERR"
  level = "INFO"
"""


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def kapacitord(tmp_path_factory, listener):
    if not os.access(BINARY, os.X_OK):
        raise AssertionError(f"{BINARY} missing: run `make bootstrap` (it builds tools/kapacitord)")
    tmp = tmp_path_factory.mktemp("kapacitord")
    port = free_port()
    conf = tmp / "kapacitor.conf"
    conf.write_text(config(str(tmp / "data"), port, listener.url))
    proc = start([str(BINARY), "-config", str(conf)], str(tmp / "kapacitord.log"))
    try:
        wait_for_port(port, proc, timeout=60)
        yield f"http://127.0.0.1:{port}/kapacitor/v1"
    finally:
        stop(proc)


def call(url: str, body: bytes | None = None, content_type: str = "application/json"):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def define(base: str, task_id: str, script: str) -> dict:
    status, _, body = call(f"{base}/tasks", json.dumps(
        {"id": task_id, "type": "stream", "script": script, "status": "enabled"}).encode())
    assert status == 200, body
    return json.loads(body)


def write(base: str, line: str) -> None:
    status, _, body = call(f"{base}/write?db=telegraf&rp=autogen", line.encode(), "text/plain")
    assert status == 204, body


def cpu_task(measurement: str, handler: str) -> str:
    return f"""dbrp "telegraf"."autogen"
stream
    |from()
        .measurement('{measurement}')
    |alert()
        .id('cpu_high:{{{{ index .Tags "host" }}}}')
        .message('cpu busy {{{{ index .Fields "usage_busy" }}}} on {{{{ index .Tags "host" }}}}')
        .crit(lambda: "usage_busy" > 90)
        {handler}
"""


def test_ping_answers_204_with_the_pinned_version(kapacitord):
    status, headers, _ = call(f"{kapacitord}/ping")
    assert status == 204
    assert headers["X-Kapacitor-Version"] == "1.7.6"


def test_a_point_makes_the_alert_post_kapacitors_json(kapacitord, listener):
    task = define(kapacitord, "cpu_high", cpu_task("cpu", f".post('{listener.url}/alerts')"))
    assert task["status"] == "enabled" and task["executing"] and task["error"] == ""

    write(kapacitord, "cpu,host=node-1 usage_busy=97.5 1764620000000000000\n")
    path, headers, alert = listener.next()
    assert path == "/alerts" and headers["Content-Type"] == "application/json"
    assert set(alert) == {"id", "message", "details", "time", "duration", "level", "data",
                          "previousLevel", "recoverable"}
    assert alert["id"] == "cpu_high:node-1"
    assert alert["message"] == "cpu busy 97.5 on node-1"
    assert alert["level"] == "CRITICAL" and alert["previousLevel"] == "OK"
    assert alert["time"] == "2025-12-01T20:13:20Z" and alert["duration"] == 0
    assert alert["recoverable"] is True
    assert alert["data"] == {"series": [{
        "name": "cpu", "tags": {"host": "node-1"}, "columns": ["time", "usage_busy"],
        "values": [["2025-12-01T20:13:20Z", 97.5]]}]}

    # Back under the threshold: one recovery, level OK, how long it was critical in ns.
    write(kapacitord, "cpu,host=node-1 usage_busy=10 1764620010000000000\n")
    _, _, recovery = listener.next()
    assert (recovery["level"], recovery["previousLevel"]) == ("OK", "CRITICAL")
    assert recovery["id"] == "cpu_high:node-1" and recovery["duration"] == 10_000_000_000
    assert listener.posts.empty()


def test_a_configured_endpoint_posts_with_basic_auth(kapacitord, listener):
    """As Mammatus renders it: `.post().endpoint('relay')` and [[httppost]] with basic-auth."""
    define(kapacitord, "cpu_high_relay", cpu_task("cpu_relay", ".post().endpoint('relay')"))
    write(kapacitord, "cpu_relay,host=node-2 usage_busy=99 1764620000000000000\n")
    path, headers, alert = listener.next()
    assert path == "/relay"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"kapacitor:relay-pw").decode()
    assert alert["id"] == "cpu_high:node-2" and alert["level"] == "CRITICAL"
