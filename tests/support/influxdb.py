"""Debian's real influxd (1.6.7) with the rendered config for tests: HTTPS from a test CA,
authentication on from the first start; and the setup Mammatus applies (InfluxSetupProvider)."""

from __future__ import annotations

import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from components.render import influx
from dynamic_providers.influxdb import InfluxSetupProvider, http, parse_results, query_request
from tests.support.daemons import free_port, start, stop
from tests.support.pki import make_pki, write_server_files

PASSWORDS = {"telegraf": "writer-pw", "kapacitor": "reader-pw"}
ADMIN_PASSWORD = "admin-pw"


@dataclass
class Influx:
    url: str
    ca_pem: str
    ca_file: str
    proc: object

    def query(self, q: str, user: str = influx.ADMIN, password: str = ADMIN_PASSWORD):
        auth = (user, password) if user else None
        return parse_results(*http(query_request(self.url, q, auth), self.ca_pem))

    def write(self, user: str, password: str, line: str) -> int:
        params = urllib.parse.urlencode({"db": influx.DATABASE, "u": user, "p": password})
        request = urllib.request.Request(f"{self.url}/write?{params}", data=line.encode())
        try:
            with urllib.request.urlopen(request, context=ssl.create_default_context(
                    cadata=self.ca_pem)) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    def set_up(self, retention: str = "30d") -> dict:
        provider = InfluxSetupProvider()
        checked = provider.check({}, {"url": self.url, "ca_pem": self.ca_pem,
                                      "retention": retention, "admin_password": ADMIN_PASSWORD,
                                      "passwords": dict(PASSWORDS)})
        assert checked.failures == []
        return provider.create(checked.inputs).outs


def start_influxd(tmp_path: Path) -> Influx:
    binary = shutil.which("influxd")
    if binary is None:
        raise AssertionError("influxd missing: run tools/setup/system.sh")
    tls = write_server_files(tmp_path, make_pki())
    paths = influx.InfluxPaths(tls_cert=tls.cert, tls_key=tls.key, data_root=str(tmp_path / "data"))
    port = free_port()
    conf = tmp_path / "influxdb.conf"
    conf.write_text(influx.influxdb_config(paths, http_bind=f"127.0.0.1:{port}",
                                           rpc_bind=f"127.0.0.1:{free_port()}", tls=True))
    proc = start([binary, "-config", str(conf)], str(tmp_path / "influxd.log"))
    return Influx(f"https://127.0.0.1:{port}", Path(tls.root).read_text(), tls.root, proc)


def stop_influxd(server: Influx) -> None:
    stop(server.proc)
