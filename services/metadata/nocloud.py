"""NoCloud-net layout (pure): what cloud-init fetches from a `seedfrom` URL."""

from __future__ import annotations

import yaml

from .config import Config
from .ec2 import hostname
from .identity import Identity
from . import vendordata


def meta_data(config: Config, ident: Identity) -> str:
    inst = ident.instance
    md = {
        "instance-id": inst.instance_id,
        # The FQDN: cloud-init sets the short name as hostname and puts both in /etc/hosts.
        "local-hostname": hostname(config, ident),
        "availability-zone": config.cloud.availability_zone,
        "cloud-name": config.cloud.name,
    }
    if inst.ssh_keys:
        md["public-keys"] = list(inst.ssh_keys)
    return yaml.safe_dump(md, sort_keys=False)


def user_data(ident: Identity) -> str:
    # cloud-init's read_seeded fails the whole seed on a user-data error: serve empty, not 404.
    return ident.instance.user_data or ""


def vendor_data(config: Config, ident: Identity) -> str:
    return vendordata.document(config, ident)


def network_config(ident: Identity) -> str:
    cfg = {"version": 2, "ethernets": {"primary": {"match": {"macaddress": ident.mac},
                                                    "dhcp4": True}}}
    return yaml.safe_dump(cfg, sort_keys=False)


FILES = {
    "meta-data": lambda c, i: meta_data(c, i),
    "user-data": lambda c, i: user_data(i),
    "vendor-data": lambda c, i: vendor_data(c, i),
    "network-config": lambda c, i: network_config(i),
}
