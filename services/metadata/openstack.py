"""OpenStack layout (pure): /openstack/<version>/{meta_data.json, user_data, vendor_data.json,
vendor_data2.json, network_data.json}."""

from __future__ import annotations

import json
from typing import Optional

from .config import Config
from .ec2 import hostname, key_name
from .identity import Identity
from . import vendordata

# Nova's published versions, oldest first; cloud-init picks the newest it knows.
VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "2016-10-06",
            "2017-02-22", "2018-08-27", "2020-10-14", "latest")


def meta_data(config: Config, ident: Identity) -> str:
    inst = ident.instance
    keys = {key_name(i, k): k for i, k in enumerate(inst.ssh_keys)}
    md = {
        "uuid": inst.instance_id,
        "name": inst.name,
        "hostname": hostname(config, ident),
        "availability_zone": config.cloud.availability_zone,
        "project_id": config.cloud.account_id,
        "launch_index": 0,
        "public_keys": keys,
        "keys": [{"name": n, "type": "ssh", "data": k} for n, k in keys.items()],
        "meta": dict(inst.tags),
        "devices": [],
    }
    return json.dumps(md, indent=2)


# cloud-init reads the top-level "cloud-init" key of both vendor files: the static, cloud-wide
# settings in vendor_data.json, the per-instance agents script in vendor_data2.json.
def vendor_data(config: Config, ident: Identity) -> str:
    return json.dumps({"cloud-init": vendordata.settings_cloud_config(config)}, indent=2)


def vendor_data2(config: Config, ident: Identity) -> str:
    return json.dumps({"cloud-init": vendordata.agents_document(config, ident)}, indent=2)


def network_data(config: Config, ident: Identity) -> str:
    link = f"tap{ident.instance.instance_id[2:13]}"
    nd = {
        "links": [{"id": link, "type": "phy", "ethernet_mac_address": ident.mac, "mtu": 1500,
                   "vif_id": f"vif-{ident.instance.instance_id[2:]}"}],
        "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": link,
                      "network_id": config.cloud.name}],
        "services": [],
    }
    return json.dumps(nd, indent=2)


def user_data(ident: Identity) -> Optional[str]:
    return ident.instance.user_data  # None -> 404, which cloud-init treats as optional


FILES = {
    "meta_data.json": meta_data,
    "vendor_data.json": vendor_data,
    "vendor_data2.json": vendor_data2,
    "network_data.json": network_data,
    "user_data": lambda c, i: user_data(i),
}
