"""Serf agent config (JSON) and its event handlers: command and control on every host.

Each host's agent carries its roles as tags, gossips encrypted with the cloud's key and joins
the control/gateway hosts. Handlers are small shell scripts, one per user event or query; a
query handler's stdout is its answer (`serf query uptime`). Pure functions; the real `serf
agent` loads the rendered config in tests and two agents answer a query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from components.render.paths import HostPaths
from stacks.spec import Host, Role, StackSpec

BIND_PORT = 7946
RPC_ADDR = "127.0.0.1:7373"


@dataclass(frozen=True)
class SerfPaths(HostPaths):
    config: str = "/etc/mammatus/serf/serf.json"
    handlers_dir: str = "/etc/mammatus/serf/handlers"
    snapshot: str = "/var/lib/mammatus/serf/snapshot"


# Handlers every agent has: name -> (kind, script). Queries answer on stdout.
HANDLERS: dict[str, tuple[str, str]] = {
    "uptime": ("query", "#!/bin/sh\n# serf query uptime: each host answers with its uptime.\nuptime\n"),
    "roles": ("query", '#!/bin/sh\n# serf query roles: each host answers with its role tags.\n'
                       'echo "${SERF_TAG_ROLES:-}"\n'),
    "disk": ("query", "#!/bin/sh\n# serf query disk: free space of the root file system.\n"
                      "df -P / | awk 'NR==2 {print $5 \" used of \" $2 \" KiB\"}'\n"),
    "deploy": ("user", "#!/bin/sh\n# serf event deploy <payload>: logged with the sender's payload.\n"
                       'payload=$(cat)\nlogger -t mammatus-serf "deploy event: $payload" 2>/dev/null '
                       '|| echo "deploy event: $payload"\n'),
}


def tags(host: Host) -> dict[str, str]:
    """Role tags of a host: `roles` (comma list) plus one `role-<name>=1` per role, so
    `serf members -tag role-compute=1` and `serf query -tag role-compute=1` select by role."""
    roles = sorted(r.value for r in host.roles)
    return {"roles": ",".join(roles), "arch": host.arch.value,
            **{f"role-{r}": "1" for r in roles}}


def join_addresses(spec: StackSpec, port: int = BIND_PORT) -> list[str]:
    """The control and gateway hosts everyone joins (all hosts if there are none)."""
    seeds = [h for h in spec.hosts if Role.control in h.roles or Role.gateway in h.roles]
    return [f"{h.address}:{port}" for h in (seeds or spec.hosts)]


def handler_specs(handlers_dir: str, handlers: Mapping[str, tuple[str, str]] = HANDLERS
                  ) -> list[str]:
    return [f"{kind}:{name}={handlers_dir}/{name}.sh" for name, (kind, _) in sorted(handlers.items())]


def agent_config(node_name: str, bind: str, encrypt_key: str, tags_: Mapping[str, str],
                 join: Sequence[str], paths: SerfPaths, rpc_addr: str = RPC_ADDR,
                 advertise: Optional[str] = None,
                 handlers: Mapping[str, tuple[str, str]] = HANDLERS) -> str:
    config = {
        "node_name": node_name,
        "bind": bind,
        "rpc_addr": rpc_addr,
        "encrypt_key": encrypt_key,
        "tags": dict(tags_),
        "retry_join": [j for j in join if j != bind and j != advertise],
        "retry_interval": "10s",
        "rejoin_after_leave": True,
        "snapshot_path": paths.snapshot,
        "event_handlers": handler_specs(paths.handlers_dir, handlers),
        "log_level": "info",
    }
    if advertise:
        config["advertise"] = advertise
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def host_config(spec: StackSpec, host: Host, encrypt_key: str, paths: SerfPaths) -> str:
    bind = f"{host.address}:{BIND_PORT}"
    return agent_config(host.name, bind, encrypt_key, tags(host), join_addresses(spec), paths)


def handler_files(handlers_dir: str, handlers: Mapping[str, tuple[str, str]] = HANDLERS
                  ) -> dict[str, str]:
    """path -> script text of every handler."""
    return {f"{handlers_dir}/{name}.sh": script for name, (_, script) in sorted(handlers.items())}
