"""LXD profiles as data: the macvlan profile of each compute host (seed design: containers sit
directly on the LAN through macvlan and get their address from the cloud's DHCP server; they
cannot talk to their own host, which is accepted). The compute layer creates the profiles with
its pylxd provider from these dicts (the shape of LXD's profile API: config, description,
devices)."""

from __future__ import annotations

from stacks.spec import Role, StackSpec

MACVLAN_PROFILE = "macvlan"


def macvlan_profile(parent: str, *, nic_name: str = "eth0", mtu: int | None = None) -> dict:
    """A profile whose only device is a macvlan NIC on `parent` (the host's LAN port). Applied
    after LXD's default profile, its `eth0` replaces the default bridge NIC."""
    nic = {"type": "nic", "nictype": "macvlan", "parent": parent, "name": nic_name}
    if mtu is not None:
        nic["mtu"] = str(mtu)
    return {
        "name": MACVLAN_PROFILE,
        "description": f"Mammatus: instances on the LAN via macvlan on {parent} (DHCP from the cloud)",
        "config": {},
        "devices": {nic_name: nic},
    }


def macvlan_profiles(spec: StackSpec) -> dict[str, dict]:
    """{compute host name: its macvlan profile}."""
    return {h.name: macvlan_profile(h.lan_interface) for h in spec.hosts_with(Role.compute)}
