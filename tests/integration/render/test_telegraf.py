"""The rendered Telegraf config run by the real Telegraf (tools/telegraf, 1.37.2 with the
plugins Mammatus renders): `--test` gathers every input, and `--once` writes line protocol to
InfluxDB's v2 write API (a recording HTTP server on loopback stands in for InfluxDB, which in
Debian is 1.6 without that API)."""

import gzip
import http.server
import subprocess
import threading

import pytest

from components.render import telegraf
from tests.support.paths import built_tool

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def binary():
    return built_tool("telegraf")


def test_every_rendered_input_gathers(binary, tmp_path):
    conf = tmp_path / "telegraf.conf"
    conf.write_text(telegraf.telegraf_config("http://127.0.0.1:9", hostname="gw",
                                             tags={"roles": "gateway"}))
    result = subprocess.run([binary, "--config", str(conf), "--test"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    measurements = {line.split(",", 1)[0] for line in result.stdout.splitlines() if line.startswith("> ")}
    assert measurements >= {"> cpu", "> mem", "> disk", "> net", "> system"}
    assert "host=gw" in result.stdout and "roles=gateway" in result.stdout


def test_metrics_are_written_to_the_v2_write_api(binary, tmp_path):
    requests = []

    class Influx(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            if self.headers.get("Content-Length"):
                body = self.rfile.read(int(self.headers["Content-Length"]))
            else:  # chunked
                body = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    chunk = self.rfile.read(size + 2)[:size]
                    if size == 0:
                        break
                    body += chunk
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            requests.append((self.path, dict(self.headers), body.decode()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Influx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conf = tmp_path / "telegraf.conf"
        conf.write_text(telegraf.telegraf_config(f"http://127.0.0.1:{server.server_port}",
                                                 hostname="node-1", token="t0k"))
        result = subprocess.run([binary, "--config", str(conf), "--once"], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
    assert requests, "telegraf wrote nothing"
    path, headers, body = requests[0]
    assert path.startswith("/api/v2/write?") and "bucket=telegraf%2Fautogen" in path
    assert "org=mammatus" in path and headers["Authorization"] == "Token t0k"
    assert any(line.startswith("cpu,") and "host=node-1" in line for line in body.splitlines())
