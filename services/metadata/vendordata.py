"""Vendor-data: the cloud-config that joins an instance to the cloud's services.

Consul agent, Vault Agent and Telegraf configs are written with `write_files` and the agents the
image carries are enabled with `runcmd`. No secret goes in here: vendor-data is readable by the
instance's every process and may end up in cloud-init's logs.

Merging: cloud-init gives user-data precedence over vendor-data and, by default, a user-data
`runcmd`/`write_files` would *replace* ours. Each fragment therefore carries `merge_how` (list
append, dict no_replace+recurse_list), which cloud-init applies when it merges the vendor config
into the user config: the user's keys win, our list entries are appended to theirs.

Two fragments, matching OpenStack's split: `static` (the same for every instance:
vendor_data.json) and `dynamic` (per instance: vendor_data2.json). EC2 and NoCloud serve both in
one document.
"""

from __future__ import annotations

import json
from typing import Optional

import yaml

from .config import Config
from .identity import Identity

MERGE_HOW = [
    {"name": "list", "settings": ["append"]},
    {"name": "dict", "settings": ["no_replace", "recurse_list"]},
]
MARKER = "/var/lib/mammatus/vendor-data.json"


def _enable(unit: str, binary: str) -> list[str]:
    # Agents come with the image; an image without one still boots cleanly.
    return ["sh", "-c", f"if command -v {binary} >/dev/null 2>&1; then "
                        f"systemctl enable --now {unit}; fi"]


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def static_fragment(config: Config) -> dict:
    vd = config.vendor_data
    files, cmds = [], []
    if vd.telegraf:
        t = vd.telegraf
        files.append({
            "path": "/etc/telegraf/telegraf.d/mammatus-output.conf",
            "permissions": "0644",
            "content": (f"[agent]\n  interval = {json.dumps(t.interval)}\n\n"
                        f"[[outputs.influxdb]]\n  urls = {_toml_list(t.influxdb_urls)}\n"
                        f"  database = {json.dumps(t.database)}\n"),
        })
        cmds.append(_enable("telegraf", "telegraf"))
    return _fragment(files, cmds)


def dynamic_fragment(config: Config, ident: Identity) -> dict:
    vd, inst, cloud = config.vendor_data, ident.instance, config.cloud
    files, cmds, services = [], [], []
    if vd.consul:
        c = vd.consul
        agent = {
            "datacenter": c.datacenter,
            "domain": c.domain,
            "node_name": inst.name,
            "data_dir": "/opt/consul",
            "retry_join": c.retry_join,
            "advertise_addr": ident.ip,
            "node_meta": {"instance_id": inst.instance_id, "cloud": cloud.name},
        }
        files.append({"path": "/etc/consul.d/mammatus.json", "permissions": "0644",
                      "content": json.dumps(agent, indent=2, sort_keys=True) + "\n"})
        cmds.append(_enable("consul", "consul"))
        services.append("consul")
    if vd.vault:
        v = vd.vault
        agent = {
            "vault": dict({"address": v.address}, **({"ca_cert": v.ca_cert} if v.ca_cert else {})),
            "auto_auth": {
                "method": [{"type": "cert", "mount_path": f"auth/{v.auth_mount}",
                            "config": {"name": inst.name}}],
                "sink": [{"type": "file", "config": {"path": "/run/vault-agent/token",
                                                     "mode": 0o600}}],
            },
            "cache": {"use_auto_auth_token": True},
            "listener": [{"type": "tcp", "address": "127.0.0.1:8100", "tls_disable": True}],
        }
        files.append({"path": "/etc/vault.d/agent.json", "permissions": "0644",
                      "content": json.dumps(agent, indent=2, sort_keys=True) + "\n"})
        files.append({"path": "/etc/systemd/system/vault-agent.service", "permissions": "0644",
                      "content": ("[Unit]\nDescription=Vault Agent (Mammatus)\n"
                                  "After=network-online.target\n\n[Service]\n"
                                  "ExecStart=/usr/bin/vault agent -config=/etc/vault.d/agent.json\n"
                                  "Restart=on-failure\n\n[Install]\n"
                                  "WantedBy=multi-user.target\n")})
        cmds.append(_enable("vault-agent", "vault"))
        services.append("vault")
    if vd.telegraf:
        files.append({"path": "/etc/telegraf/telegraf.d/mammatus-tags.conf", "permissions": "0644",
                      "content": (f"[global_tags]\n  instance_id = {json.dumps(inst.instance_id)}\n"
                                  f"  cloud = {json.dumps(cloud.name)}\n")})
        services.append("telegraf")
    # Always present: lets an instance (and the e2e test) see that vendor-data was applied.
    files.append({"path": MARKER, "permissions": "0644",
                  "content": json.dumps({"instance_id": inst.instance_id, "name": inst.name,
                                         "cloud": cloud.name, "services": services},
                                        sort_keys=True) + "\n"})
    return _fragment(files, cmds)


def _fragment(files: list, cmds: list) -> dict:
    # Empty lists are left out: cloud-init's schema wants non-empty runcmd/write_files.
    if not files and not cmds:
        return {}
    out: dict = {"merge_how": MERGE_HOW}
    if files:
        out["write_files"] = files
    if cmds:
        out["runcmd"] = cmds
    return out


def combined(config: Config, ident: Identity) -> dict:
    static, dynamic = static_fragment(config), dynamic_fragment(config, ident)
    return _fragment(static.get("write_files", []) + dynamic.get("write_files", []),
                     static.get("runcmd", []) + dynamic.get("runcmd", []))


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value: str):
    # Multi-line file contents as literal blocks: readable in cloud-init's stored copy.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def as_cloud_config(fragment: dict) -> Optional[str]:
    if not fragment:
        return None
    return "#cloud-config\n" + yaml.dump(fragment, Dumper=_Dumper, sort_keys=False, width=1000)
