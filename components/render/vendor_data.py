"""cloud-init vendor-data pieces that join an instance to the cloud's services: the root CA
trusted, the Consul agent, Vault Agent and Telegraf configured (write_files) and started when
the image carries them (runcmd). Each piece is a cloud-config dict; `merge_vendor_data` makes
one cloud-config of them. Pure; validated by cloud-init 22.4.2's schema (strict) in tests.

Two consumers: the LXD profile's `cloud-init.vendor-data` (the whole merged cloud-config) and the
metadata service, which builds its own vendor-data from the settings in `metadata_settings`
(services/metadata/vendordata.py; it serves them as a vendor script so a user-data `runcmd`
cannot drop them). No secret goes into either: every process on an instance can read it.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import yaml

from components.render import consul as consul_render
from components.render import telegraf as telegraf_render
from components.render import vault as vault_render

HEADER = "#cloud-config\n"
# The system bundle: cloud-init's ca_certs module (ca_trust_part) adds the cloud's root to it.
ROOT_CA_PATH = "/etc/ssl/certs/ca-certificates.crt"


def _start_if_present(unit: str, binary: str) -> list[str]:
    return ["sh", "-c",
            f"if command -v {binary} >/dev/null 2>&1; then systemctl enable {unit} && "
            f"systemctl restart {unit}; fi"]


def ca_trust_part(root_pem: str) -> dict:
    """The cloud's root CA in the instance's trust store (cloud-init's ca_certs module)."""
    return {"ca_certs": {"trusted": [root_pem]}}


def consul_agent_part(servers: list[str], datacenter: str, domain: str) -> dict:
    return {
        "write_files": [{"path": "/etc/consul.d/mammatus.json", "permissions": "0644",
                         "content": consul_render.agent_config(servers, datacenter, domain,
                                                               ROOT_CA_PATH)}],
        "runcmd": [_start_if_present("consul", "consul")],
    }


def vault_agent_part(vault_addr: str, root_pem: str, role: Optional[str] = None) -> dict:
    """Vault Agent's files (components/render/vault.py, their one source). Its config names the
    instance's AppRole, so a part for every instance (role None) has the root and the unit
    only; the metadata service gives each instance its config and credentials."""
    files = (vault_render.instance_files(vault_addr, root_pem, role) if role
             else vault_render.shared_files(root_pem))
    return {
        "write_files": [{"path": f.path, "permissions": f.mode, "content": f.content}
                        for f in files],
        "runcmd": [_start_if_present("vault-agent", "vault")],
    }


def telegraf_part(influx_url: str, cloud: str = "mammatus") -> dict:
    """Telegraf in an instance: hostname from the instance itself, tagged with the cloud."""
    return {
        "write_files": [{"path": "/etc/telegraf/telegraf.d/mammatus.conf", "permissions": "0644",
                         "content": telegraf_render.telegraf_config(
                             influx_url, hostname=None, tags={"cloud": cloud}, units=None)}],
        "runcmd": [_start_if_present("telegraf", "telegraf")],
    }


LIST_KEYS = ("write_files", "runcmd", "bootcmd", "packages")


def merge_vendor_data(parts: Iterable[Mapping[str, Any]]) -> dict:
    """One cloud-config of many: list keys concatenate (write_files must not name a path twice),
    ca_certs.trusted concatenates, any other key must agree."""
    merged: dict[str, Any] = {}
    paths: set[str] = set()
    for part in parts:
        for key, value in part.items():
            if key in LIST_KEYS:
                if key == "write_files":
                    for f in value:
                        if f["path"] in paths:
                            raise ValueError(f"vendor-data writes {f['path']} twice")
                        paths.add(f["path"])
                merged.setdefault(key, []).extend(value)
            elif key == "ca_certs":
                trusted = merged.setdefault("ca_certs", {}).setdefault("trusted", [])
                trusted.extend(t for t in value.get("trusted", []) if t not in trusted)
            elif key in merged and merged[key] != value:
                raise ValueError(f"vendor-data parts disagree on {key!r}")
            else:
                merged[key] = value
    return merged


def render(config: Mapping[str, Any]) -> str:
    return HEADER + yaml.safe_dump(dict(config), sort_keys=True, default_flow_style=False)


def metadata_settings(consul: Optional[dict] = None, vault: Optional[dict] = None,
                      telegraf: Optional[dict] = None, iscsi: Optional[dict] = None) -> dict:
    """The metadata service's `vendor_data` config section (services/metadata/config.py)."""
    return {k: v for k, v in (("consul", consul), ("vault", vault), ("telegraf", telegraf),
                              ("iscsi", iscsi)) if v}
