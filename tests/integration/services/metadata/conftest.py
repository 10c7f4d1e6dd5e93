"""A real `python -m services.metadata` on loopback, with lease/inventory files the test owns.

Instances are played by loopback source addresses (127.0.0.2, 127.0.0.3, ...): each request binds
its client socket to one, and the lease file maps that address to the instance's MAC.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.paths import ROOT
from tests.support.daemons import free_port

WEB1 = {"name": "web-1", "macs": ["02:00:00:00:00:02"],
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlvdGVzdGtleQ web1@test"],
        "user_data": "#cloud-config\nruncmd:\n- [touch, /run/user-data-marker]\n"
                     "ssh_pwauth: true\n"}
DB1 = {"name": "db-1", "macs": ["02:00:00:00:00:03"], "type": "lxd.vm"}


@dataclass
class Reply:
    status: int
    body: str
    headers: dict


class Server:
    def __init__(self, workdir: Path, config: dict, instances: list[dict], leases: list[str],
                 args: tuple = (), host: str = "127.0.0.1", netns: str = None):
        self.dir = workdir
        self.args = list(args)
        self.host, self.netns = host, netns
        self.dir.mkdir(parents=True, exist_ok=True)
        self.leases_file = workdir / "dnsmasq.leases"
        self.inventory_file = workdir / "instances.yaml"
        self.secret_file = workdir / "token.key"
        if not self.secret_file.exists():
            self.secret_file.write_bytes(os.urandom(32).hex().encode())
        self.write_inventory(instances)
        self.write_leases(leases)
        base = {
            "tokens": {"secret_file": str(self.secret_file)},
            "identity": {"leases": [str(self.leases_file)],
                         "inventories": [{"type": "file", "path": str(self.inventory_file)}]},
            "vendor_data": {"consul": {"agent": {"retry_join": ["10.9.0.2"]}},
                            "vault": {"address": "https://10.9.0.2:8200"},
                            "telegraf": {"influxdb_urls": ["http://10.9.0.2:8086"]}},
            "long_poll": {"interval_seconds": 0.1, "max_timeout_seconds": 30},
        }
        if netns is None:
            # Loopback "instances" have no ARP entries: the neighbour check (on by default) is
            # tested on real links, in namespaces (test_netns.py).
            base["identity"]["neighbour_check"] = False
        for key, value in config.items():
            base[key] = dict(base.get(key, {}), **value) if isinstance(value, dict) else value
        self.config_file = workdir / "metadata.yaml"
        self.config_file.write_text(yaml.safe_dump(base))
        self.port = free_port() if netns is None else 80
        self.url = f"http://{host}:{self.port}"
        self.log_file = workdir / "service.log"
        self.proc = None

    def write_inventory(self, instances: list[dict]) -> None:
        tmp = self.inventory_file.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump({"instances": instances}))
        tmp.replace(self.inventory_file)

    def write_leases(self, leases: list[str]) -> None:
        tmp = self.leases_file.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in leases))
        tmp.replace(self.leases_file)  # dnsmasq also replaces the file

    def start(self) -> "Server":
        log = open(self.log_file, "ab")
        start = self.log_file.stat().st_size
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            prefix + [sys.executable, "-m", "services.metadata", "--listen",
                      f"{self.host}:{self.port}", "--config", str(self.config_file), *self.args],
            cwd=ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"metadata service exited:\n{self.log_file.read_text()}")
            # Works inside network namespaces too, where we cannot connect from here.
            # The instance-facing listener starts last (after the lease push one).
            if f"listening on {self.host}:{self.port}" in self.log_file.read_text()[start:]:
                return self
            time.sleep(0.05)
        raise RuntimeError("metadata service did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log(self) -> str:
        return self.log_file.read_text()

    def request(self, source: str, method: str, path: str, headers=None,
                timeout: float = 30) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0))
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, resp.read().decode(), dict(resp.getheaders()))
        finally:
            conn.close()

    def get(self, source: str, path: str, **headers) -> Reply:
        return self.request(source, "GET", path, {k.replace("_", "-"): v
                                                  for k, v in headers.items()})

    def token(self, source: str, ttl: int = 60) -> str:
        reply = self.request(source, "PUT", "/latest/api/token",
                             {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        assert reply.status == 200, reply.body
        return reply.body


DEFAULT_LEASES = ["0 02:00:00:00:00:02 127.0.0.2 web-1 *",
                  "0 02:00:00:00:00:03 127.0.0.3 db-1 *"]


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(config=None, instances=None, leases=None, name="svc", workdir=None, args=(),
             **where):
        server = Server(workdir or tmp_path / name, config or {},
                        [WEB1, DB1] if instances is None else instances,
                        DEFAULT_LEASES if leases is None else leases, args, **where)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()
