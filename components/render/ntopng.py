"""ntopng on the gateway: its config file (one option per line, `-x=value`), watching the LAN
port with the LAN subnet as the local network. Pure; checked structurally in tests (ntopng is
not in Debian bookworm's main archive)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Sequence

from components.render.paths import HostPaths

PORT = 3001


@dataclass(frozen=True)
class NtopngPaths(HostPaths):
    config: str = "/etc/mammatus/ntopng/ntopng.conf"
    data_dir: str = "/var/lib/mammatus/ntopng"


def ntopng_config(paths: NtopngPaths, interfaces: Sequence[str],
                  local_networks: Sequence[ipaddress.IPv4Network], http_port: int = PORT,
                  redis: str = "127.0.0.1:6379") -> str:
    if not interfaces:
        raise ValueError("ntopng needs at least one interface to watch")
    lines = ["# ntopng for the Mammatus gateway (rendered; do not edit).",
             *(f"-i={i}" for i in interfaces),
             f"-m={','.join(str(n) for n in local_networks)}",
             f"-w={http_port}",
             f"-d={paths.data_dir}",
             f"-r={redis}",
             "--community",
             "--disable-login=0",
             ""]
    return "\n".join(lines)
