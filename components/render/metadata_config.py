"""The metadata service's files (services/metadata, format in services/metadata/config.py and
docs/metadata.md): its YAML config and the static inventory of the cloud's instances (name,
MACs, image, host, SSH keys, user-data). Pure; the tests load both with the service's own
parsers (`parse_config`, `parse_inventory`).

Kept small on purpose: the service's format is young, adjust here when it moves.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import yaml

from stacks.spec import StackSpec

# Where instances look for the service (cloud-init's EC2/NoCloud seeds, every cloud's convention).
ADDRESS = "169.254.169.254"
# The service's listener for leases pushed by the DHCP server's host (services/metadata/lease_push.py).
LEASE_PUSH_PORT = 8169


def lease_push_url(spec: StackSpec) -> str:
    return f"http://{spec.host(spec.placement.metadata).address}:{LEASE_PUSH_PORT}/v1/leases"


def render_lease_hook_config(*, url: str, secret_file: str) -> str:
    """What dnsmasq's lease script (services/metadata/lease_hook.py) reads on the DHCP host."""
    return "# Mammatus: where dnsmasq's lease script sends leases (generated; do not edit)\n" + \
        yaml.safe_dump({"url": url, "secret_file": secret_file}, sort_keys=True)


def render_config(spec: StackSpec, *, listen: str, inventory_path: str,
                  lease_files: Sequence[str] = (), vendor_data: Optional[Mapping[str, Any]] = None,
                  token_secret_file: Optional[str] = None,
                  lease_push: Optional[Mapping[str, str]] = None,
                  identity_signing: Optional[Mapping[str, str]] = None) -> str:
    """`lease_push`: {listen, secret_file, state_file} when the DHCP server is on another host;
    `identity_signing`: {key_file, cert_file} that sign the instance identity document."""
    net = spec.network
    config: dict[str, Any] = {
        "listen": listen,
        "cloud": {"name": "mammatus", "domain": net.domain if net else "mammatus"},
        # The service answers on the LAN port the instances are on (their default route, or the
        # DHCP server's static route to this host): their ARP entries must show the leased MAC.
        "identity": {"leases": list(lease_files), "neighbour_check": True,
                     "inventories": [{"type": "file", "path": inventory_path}]},
        # Not required: the cloud's images read NoCloud (seedfrom), which never sends a token.
        "tokens": {"required": False},
    }
    if net:
        config["cloud"]["subnet"] = str(net.lan_subnet)
    if lease_push:
        config["identity"]["lease_push"] = dict(lease_push)
    if token_secret_file:
        config["tokens"]["secret_file"] = token_secret_file
    if identity_signing:
        config["identity_signing"] = dict(identity_signing)
    if vendor_data:
        config["vendor_data"] = dict(vendor_data)
    return ("# Mammatus metadata service (generated; do not edit)\n"
            "# identity.neighbour_check: instances share this host's L2, so taking an instance's\n"
            "#   address without its MAC (gratuitous ARP) is refused.\n"
            "# tokens.required: false, since the images' NoCloud datasource cannot send IMDSv2\n"
            "#   tokens (docs/metadata.md, \"What a caller must prove\").\n"
            + yaml.safe_dump(config, sort_keys=True, default_flow_style=False))


def render_inventory(spec: StackSpec, user_data: Mapping[str, str],
                     ssh_keys: Sequence[str] = (),
                     credentials: Optional[Mapping[str, Mapping[str, Mapping[str, str]]]] = None
                     ) -> str:
    """One entry per spec instance, with its MAC (StackSpec.instance_mac) and, with
    `credentials` ({instance: {kind: {field: value}}}: its own InfluxDB user as `telemetry`, its
    Consul agent's secrets as `consul`), what the metadata service serves that instance alone
    at /mammatus/v1/<kind>-credentials: secrets, so the file is 0600."""
    instances = []
    for inst in spec.instances:
        mac = spec.instance_mac(inst)
        item: dict[str, Any] = {"name": inst.name, "macs": [mac], "image": inst.image,
                                "host": inst.host, "type": "lxd.container"}
        if ssh_keys:
            item["ssh_keys"] = list(ssh_keys)
        if user_data.get(inst.name):
            item["user_data"] = user_data[inst.name]
        if credentials and credentials.get(inst.name):
            item["credentials"] = {kind: dict(fields)
                                   for kind, fields in sorted(credentials[inst.name].items())}
        instances.append(item)
    return "# Mammatus instance inventory (generated; do not edit)\n" + yaml.safe_dump(
        {"instances": instances}, sort_keys=True, default_flow_style=False)
