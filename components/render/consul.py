"""Consul: the servers' config (JSON, which Consul reads like HCL) in two files, and the agent
config instances get through vendor-data. Pure; `consul validate` (tools/consul: Consul v1.16.1,
the last MPL-2.0 release, built from its Go module; Consul is not packaged in Debian bookworm)
checks them, and tests/integration/render/test_consul.py runs a real server from them.

A server is secure from its first start:
- gossip is encrypted (`encrypt`, both directions verified): an agent without the key cannot join;
- ACLs are on, default deny: an anonymous request is refused (403), every agent has a token of
  its own (`acl.tokens.agent`; dynamic_providers/consul_acl.py creates it, with a node identity),
  and the servers share the initial management token;
- TLS from the cloud's CA: RPC between agents both ways verified (a server's certificate also
  names server.<datacenter>.<domain>), the HTTP API on HTTPS only (plain HTTP and gRPC off);
  API clients authenticate by token, not by certificate;
- the API, DNS and everything else listen on the host's LAN address only, never 0.0.0.0.

`server_config` holds nothing secret (0644); `secrets_config` holds the gossip key and the
tokens and is written 0600 for the consul user alone (components/consul.py). Both are given to
`consul agent` as -config-file, which merges them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

HTTPS_PORT = 8501
DNS_PORT = 8600
SERVER_PORT = 8300
SERF_LAN_PORT = 8301
SERF_WAN_PORT = 8302


@dataclass(frozen=True)
class Ports:
    """Consul's ports (the defaults; tests on loopback pick free ones)."""
    https: int = HTTPS_PORT
    dns: int = DNS_PORT
    server: int = SERVER_PORT
    serf_lan: int = SERF_LAN_PORT
    serf_wan: int = SERF_WAN_PORT

    def config(self) -> dict:
        # -1 turns a listener off: no plain HTTP, no gRPC (nothing here uses Envoy or peering).
        return {"http": -1, "https": self.https, "grpc": -1, "grpc_tls": -1, "dns": self.dns,
                "server": self.server, "serf_lan": self.serf_lan, "serf_wan": self.serf_wan}


@dataclass(frozen=True)
class TlsFiles:
    """Where an agent's TLS files are: the cloud's root, its certificate (chain) and key."""
    ca_file: str
    cert_file: str
    key_file: str


def server_name(datacenter: str, domain: str) -> str:
    """The name every server's certificate carries, as verify_server_hostname checks it."""
    return f"server.{datacenter}.{domain}"


def _tls(files: TlsFiles) -> dict:
    return {
        "defaults": {"ca_file": files.ca_file, "cert_file": files.cert_file,
                     "key_file": files.key_file, "verify_incoming": True,
                     "verify_outgoing": True, "tls_min_version": "TLSv1_2"},
        "internal_rpc": {"verify_server_hostname": True},
        # API users hold a token, not a client certificate (the UI through the load balancer).
        "https": {"verify_incoming": False},
    }


def _acl() -> dict:
    return {"enabled": True, "default_policy": "deny", "down_policy": "extend-cache",
            "enable_token_persistence": False}


def server_config(node_name: str, address: str, servers: Sequence[str], datacenter: str,
                  domain: str, tls: TlsFiles, data_dir: str = "/var/lib/mammatus/consul",
                  ports: Ports = Ports()) -> str:
    """A server on `address` (the host's LAN address) among `servers` (their addresses, this
    one included; all of them are expected before the first leader is elected)."""
    if address not in servers:
        raise ValueError(f"the server {node_name} ({address}) is not among the servers {list(servers)}")
    config = {
        "datacenter": datacenter,
        "domain": domain,
        "node_name": node_name,
        "server": True,
        "bootstrap_expect": len(servers),
        "data_dir": data_dir,
        "bind_addr": address,
        "advertise_addr": address,
        "client_addr": address,
        "retry_join": [f"{s}:{ports.serf_lan}" for s in servers if s != address],
        "ui_config": {"enabled": True},
        "ports": ports.config(),
        "encrypt_verify_incoming": True,
        "encrypt_verify_outgoing": True,
        "acl": _acl(),
        "tls": _tls(tls),
        # Instances' agents get their RPC certificates from the servers (signed by Consul's own
        # connect CA, which the servers trust for that alone).
        "auto_encrypt": {"allow_tls": True},
        "disable_update_check": True,
        "disable_remote_exec": True,
        "enable_script_checks": False,
        "log_level": "INFO",
    }
    return json.dumps(config, indent=2) + "\n"


def secrets_config(encrypt: str, agent_token: str, initial_management: Optional[str] = None) -> str:
    """The 0600 part of an agent's config: the gossip key and its ACL tokens (a server's also the
    initial management token, the same on every server)."""
    if not encrypt or not agent_token:
        raise ValueError("a Consul agent needs the gossip key and its agent token")
    tokens = {"agent": agent_token}
    if initial_management:
        tokens["initial_management"] = initial_management
    return json.dumps({"encrypt": encrypt, "acl": {"tokens": tokens}}, indent=2) + "\n"


# An instance's agent: its own API and DNS on loopback only (plain HTTP there: nothing else on
# the instance's network can reach it, and TLS to itself would protect nothing).
AGENT_PORTS = {"http": 8500, "https": -1, "grpc": -1, "grpc_tls": -1, "dns": DNS_PORT}
# The address the instance's default route leaves by (go-sockaddr, resolved by the agent at
# start): the LAN address its lease gave it, whatever it is.
DEFAULT_BIND = '{{ GetDefaultInterfaces | exclude "type" "IPv6" | attr "address" }}'


def agent_config(servers: Sequence[str], datacenter: str, domain: str, ca_file: str,
                 data_dir: str = "/var/lib/consul", bind_addr: str = DEFAULT_BIND,
                 ports: Optional[dict] = None, serf_lan: Optional[int] = None) -> str:
    """Consul agent in an instance: the node name comes from the instance itself (its
    hostname), its RPC certificate from the servers (auto_encrypt), the cloud's root to check
    theirs. The gossip key and its token are not here (vendor-data is readable by every process
    on an instance): an agent joins only with a secrets file of its own beside this one
    (`instance_secrets_config`, from the metadata service). `retry_join` names the servers'
    Serf LAN port when it is not the default (tests)."""
    join = list(servers) if serf_lan is None else [f"{s}:{serf_lan}" for s in servers]
    config = {
        "datacenter": datacenter,
        "domain": domain,
        "server": False,
        "data_dir": data_dir,
        "bind_addr": bind_addr,
        "client_addr": "127.0.0.1",
        "retry_join": join,
        "ports": dict(ports or AGENT_PORTS),
        "leave_on_terminate": True,
        "encrypt_verify_incoming": True,
        "encrypt_verify_outgoing": True,
        "acl": _acl(),
        "tls": {"defaults": {"ca_file": ca_file, "verify_outgoing": True},
                "internal_rpc": {"verify_server_hostname": True}},
        "auto_encrypt": {"tls": True},
        "disable_update_check": True,
        "disable_remote_exec": True,
        "enable_script_checks": False,
        "log_level": "INFO",
    }
    return json.dumps(config, indent=2) + "\n"


def instance_secrets_config(encrypt: str, token: str) -> str:
    """An instance agent's 0600 part: the gossip key, and its token both as the agent's own and
    as the default one, which registers the services of its config files (each allowed by the
    token's service identities) and answers its local DNS."""
    if not encrypt or not token:
        raise ValueError("a Consul agent needs the gossip key and its token")
    return json.dumps({"encrypt": encrypt, "acl": {"tokens": {"agent": token, "default": token}}},
                      indent=2) + "\n"


# What anyone may ask Consul's DNS (and the catalog's read API) without a token: names of nodes
# and services and their healthy addresses, as a LAN's DNS tells them anyway. Nothing else: the
# KV store, ACLs, intentions and every write stay denied.
DNS_POLICY_NAME = "mammatus-dns-read"
DNS_POLICY_RULES = """node_prefix "" {
  policy = "read"
}
service_prefix "" {
  policy = "read"
}
query_prefix "" {
  policy = "read"
}
"""


def node_identity(node_name: str, datacenter: str) -> dict:
    """What an agent's token is granted: Consul's node identity (its own node's registration,
    reading services), in the ACL API's form."""
    return {"NodeName": node_name, "Datacenter": datacenter}
