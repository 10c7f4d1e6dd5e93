"""A real Consul server (tools/consul: v1.16.1) on 127.0.0.1 from the rendered config, for
integration tests: a test CA's certificate, the gossip key and the initial management token in
its 0600 secrets file, free ports, a temporary data dir; stopped by its PID."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from components.render import consul
from tests.support.daemons import free_port, start, stop, wait_for, wait_for_port
from tests.support.paths import built_tool
from tests.support.pki import make_pki, server_certificate

DATACENTER = "test"
DOMAIN = "consul"


@dataclass
class Consul:
    binary: str
    url: str
    ca_pem: str
    ca_file: str
    gossip_key: str
    management_token: str
    agent_token: str
    ports: consul.Ports
    log: str
    proc: subprocess.Popen

    def api(self, method: str, path: str, token: Optional[str] = None,
            body: Optional[bytes] = None) -> tuple[int, str]:
        headers = {"X-Consul-Token": token} if token else {}
        req = urllib.request.Request(f"{self.url}{path}", data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=ssl.create_default_context(cadata=self.ca_pem),
                                        timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def members(self) -> list[dict]:
        status, body = self.api("GET", "/v1/agent/members", self.management_token)
        assert status == 200, body
        return json.loads(body)


def _write_secret(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(text)


def start_server(tmp_path: Path, node_name: str = "server-1") -> Consul:
    binary = built_tool("consul")
    pki = make_pki()
    chain, key = server_certificate(pki, f"{node_name}.{DOMAIN}",
                                    dns_names=[consul.server_name(DATACENTER, DOMAIN), "localhost"],
                                    ip_addresses=["127.0.0.1"], client_auth=True)
    (tmp_path / "root.pem").write_text(pki.root_pem)
    (tmp_path / "server.crt").write_text(chain)
    _write_secret(tmp_path / "server.key", key)
    tls = consul.TlsFiles(str(tmp_path / "root.pem"), str(tmp_path / "server.crt"),
                          str(tmp_path / "server.key"))
    ports = consul.Ports(https=free_port(), dns=free_port(), server=free_port(),
                         serf_lan=free_port(), serf_wan=free_port())
    gossip_key = base64.b64encode(os.urandom(32)).decode()
    management, agent = str(uuid.uuid4()), str(uuid.uuid4())
    config = tmp_path / "consul.json"
    config.write_text(consul.server_config(node_name, "127.0.0.1", ["127.0.0.1"], DATACENTER,
                                           DOMAIN, tls, data_dir=str(tmp_path / "data"),
                                           ports=ports))
    secrets = tmp_path / "secrets.json"
    _write_secret(secrets, consul.secrets_config(gossip_key, agent, management))
    log = str(tmp_path / "consul.log")
    proc = start([binary, "agent", f"-config-file={config}", f"-config-file={secrets}"], log)
    server = Consul(binary, f"https://127.0.0.1:{ports.https}", pki.root_pem,
                    str(tmp_path / "root.pem"), gossip_key, management, agent, ports, log, proc)
    # Up once the leader has made the management token (ACLs bootstrapped).
    wait_for(lambda: server.api("GET", "/v1/acl/token/self", management)[0] == 200,
             "a leader with ACLs bootstrapped", attempts=300, delay=0.2, proc=proc, log=log)
    return server


def stop_server(server: Consul) -> None:
    stop(server.proc)


def client_agent(server: Consul, tmp_path: Path, name: str, gossip_key: Optional[str]
                 ) -> tuple[subprocess.Popen, int, str]:
    """A plain client agent on loopback (no ACLs, no TLS: only gossip matters here), with the
    gossip key or without; (its process, its HTTP port, its log)."""
    http = free_port()
    config = {"node_name": name, "datacenter": DATACENTER, "server": False,
              "data_dir": str(tmp_path / f"{name}-data"), "bind_addr": "127.0.0.1",
              "client_addr": "127.0.0.1", "disable_update_check": True,
              "ports": {"http": http, "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1,
                        "serf_lan": free_port(), "serf_wan": -1, "server": free_port()}}
    if gossip_key:
        config["encrypt"] = gossip_key
    path = tmp_path / f"{name}.json"
    _write_secret(path, json.dumps(config))
    log = str(tmp_path / f"{name}.log")
    proc = start([server.binary, "agent", f"-config-file={path}"], log)
    wait_for_port(http, proc, timeout=30)
    return proc, http, log


def join(server: Consul, agent_http: int) -> subprocess.CompletedProcess:
    """`consul join` run against the agent: it gossips to the server's Serf LAN port."""
    return subprocess.run([server.binary, "join", f"-http-addr=127.0.0.1:{agent_http}",
                           f"127.0.0.1:{server.ports.serf_lan}"],
                          capture_output=True, text=True, timeout=60)


def instance_agent(server: Consul, tmp_path: Path, name: str, token: str,
                   services: dict[str, dict]) -> tuple[subprocess.Popen, str]:
    """An instance's agent as vendor-data makes it: the rendered agent config (TLS by
    auto_encrypt, ACLs, gossip key) with its node name, the metadata service's secrets file,
    and `services` ({file name: definition}) in its config dir as a user-data would write them;
    on loopback with free ports. (its process, its log)."""
    conf_dir = tmp_path / f"{name}.d"
    conf_dir.mkdir()
    # `server` is the servers' RPC port: auto_encrypt's first call goes there (a client agent
    # listens on no such port itself).
    ports = {"http": free_port(), "https": -1, "grpc": -1, "grpc_tls": -1, "dns": free_port(),
             "serf_lan": free_port(), "serf_wan": -1, "server": server.ports.server}
    agent = json.loads(consul.agent_config(["127.0.0.1"], DATACENTER, DOMAIN, server.ca_file,
                                           data_dir=str(tmp_path / f"{name}-data"),
                                           bind_addr="127.0.0.1", ports=ports,
                                           serf_lan=server.ports.serf_lan))
    (conf_dir / "mammatus.json").write_text(json.dumps({**agent, "node_name": name}))
    for file_name, definition in services.items():
        (conf_dir / file_name).write_text(json.dumps(definition))
    secrets = tmp_path / f"{name}-secrets.json"
    _write_secret(secrets, consul.instance_secrets_config(server.gossip_key, token))
    log = str(tmp_path / f"{name}.log")
    proc = start([server.binary, "agent", f"-config-dir={conf_dir}", f"-config-file={secrets}"], log)
    return proc, log
