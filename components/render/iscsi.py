"""What instances get for the cloud's iSCSI volumes (the BlockStorage layer): the metadata
service's `vendor_data.iscsi` section (services/metadata/config.py Iscsi), from which it writes
each instance's open-iscsi initiator name and node records (services/metadata/vendordata.py).
Pure: everything comes from the spec; nothing secret (the CHAP passwords are the inventory's).

An instance takes part when a volume's `initiators` names its own IQN
(stacks/iscsi.py `instance_iqn`); its CHAP user on every target is that IQN.
"""

from __future__ import annotations

from stacks.iscsi import cloud_domain, initiator_instance, target_iqn
from stacks.spec import StackSpec

ISCSI_PORT = 3260


def chap_userid(initiator: str) -> str:
    """The CHAP user an initiator logs in as (the target's ACL has the same)."""
    return initiator


def instance_volumes(spec: StackSpec) -> dict[str, list]:
    """{instance: [the volumes whose initiators name it]}, in spec order."""
    found: dict[str, list] = {}
    for vol in spec.volumes:
        for iqn in vol.initiators:
            instance = initiator_instance(iqn, spec)
            if instance is not None:
                found.setdefault(instance, []).append(vol)
    return found


def metadata_settings(spec: StackSpec, credentials: bool = True) -> dict:
    """{initiators: {instance: {name, nodes: [{volume, target, address, port, username}]}},
    credentials}."""
    domain = cloud_domain(spec)
    initiators = {}
    for instance, volumes in sorted(instance_volumes(spec).items()):
        iqn = next(i for i in volumes[0].initiators if initiator_instance(i, spec) == instance)
        initiators[instance] = {"name": iqn, "nodes": [
            {"volume": vol.name, "target": target_iqn(vol.name, vol.host, domain),
             "address": str(spec.host(vol.host).address), "port": ISCSI_PORT,
             "username": chap_userid(iqn)} for vol in volumes]}
    return {"initiators": initiators, "credentials": credentials}
