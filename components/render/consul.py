"""Consul: the servers' config and the agent config instances get through vendor-data (JSON,
which Consul reads like HCL). Agents retry-join the servers. Gossip
encryption is optional (`encrypt`): its key is a secret and vendor-data carries none. Pure; `consul validate` (tools/consul, Consul v1.20.6 from its Go module; Consul is not
packaged in Debian bookworm) checks both in tests.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

HTTP_PORT = 8500
SERF_LAN_PORT = 8301


def server_config(node_name: str, bind: str, servers: Sequence[str], encrypt: Optional[str],
                  datacenter: str, domain: str, data_dir: str = "/var/lib/mammatus/consul",
                  ca_file: str | None = None) -> str:
    config = {
        "datacenter": datacenter,
        "domain": domain,
        "node_name": node_name,
        "server": True,
        "bootstrap_expect": len(servers),
        "data_dir": data_dir,
        "bind_addr": bind,
        "client_addr": "0.0.0.0",
        "advertise_addr": bind,
        "retry_join": [s for s in servers if s != bind],
        "ui_config": {"enabled": True},
        "ports": {"http": HTTP_PORT, "dns": 8600},
        "log_level": "INFO",
    }
    if encrypt:
        config["encrypt"] = encrypt
    if ca_file:
        config["tls"] = {"defaults": {"ca_file": ca_file}}
    return json.dumps(config, indent=2) + "\n"


def agent_config(servers: Sequence[str], encrypt: Optional[str], datacenter: str, domain: str,
                 data_dir: str = "/opt/consul") -> str:
    """Consul agent in an instance: node name and bind address come from the instance itself
    (its hostname; the address of the default route's interface)."""
    config = {
        "datacenter": datacenter,
        "domain": domain,
        "server": False,
        "data_dir": data_dir,
        "bind_addr": '{{ GetPrivateInterfaces | include "flags" "forwardable" | attr "address" }}',
        "client_addr": "127.0.0.1",
        "retry_join": list(servers),
        "leave_on_terminate": True,
        "log_level": "INFO",
    }
    if encrypt:
        config["encrypt"] = encrypt
    return json.dumps(config, indent=2) + "\n"
