"""EC2 layout (pure): versions, the meta-data tree, user-data, the instance identity document.

No vendor-data here: EC2 has no such channel and cloud-init's Ec2 datasource reads none.
"""

from __future__ import annotations

import functools
import json

from . import signing
from .config import Config
from .identity import Identity
from .tree import Dir, Lazy

# Every dated version AWS publishes that cloud-init or SDKs probe; all serve the same tree.
VERSIONS = (
    "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
    "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25",
    "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28",
    "2018-08-17", "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23",
    "2021-07-15", "2022-09-24", "latest",
)


def hostname(config: Config, ident: Identity) -> str:
    return f"{ident.instance.name}.{config.cloud.domain}"


def key_name(index: int, key: str) -> str:
    # EC2 lists keys by name; ours have none, so use the key's comment or a positional name.
    parts = key.split()
    return parts[2] if len(parts) > 2 else f"key-{index}"


def metadata_tree(config: Config, ident: Identity) -> Dir:
    inst, cloud = ident.instance, config.cloud
    keys = Dir({str(i): Dir({"openssh-key": k}) for i, k in enumerate(inst.ssh_keys)},
               labels={str(i): f"{i}={key_name(i, k)}" for i, k in enumerate(inst.ssh_keys)})
    nic = {
        "device-number": "0",
        "interface-id": f"eni-{inst.instance_id[2:]}",
        "local-hostname": hostname(config, ident),
        "local-ipv4s": ident.ip,
        "mac": ident.mac,
        "owner-id": cloud.account_id,
    }
    if cloud.subnet:
        nic["subnet-ipv4-cidr-block"] = str(cloud.subnet)
    tree = {
        "ami-id": inst.image,
        "ami-launch-index": "0",
        "ami-manifest-path": "(unknown)",
        "block-device-mapping": {"ami": "/dev/sda", "root": "/dev/sda"},
        "hostname": hostname(config, ident),
        "instance-action": "none",
        "instance-id": inst.instance_id,
        "instance-life-cycle": "on-demand",
        "instance-type": inst.instance_type,
        "local-hostname": hostname(config, ident),
        "local-ipv4": ident.ip,
        "mac": ident.mac,
        "network": {"interfaces": {"macs": {ident.mac: nic}}},
        "placement": {"availability-zone": cloud.availability_zone, "region": cloud.region},
        "reservation-id": f"r-{inst.instance_id[2:]}",
        "security-groups": "default",
        "services": {"domain": cloud.domain, "partition": cloud.name},
    }
    if inst.ssh_keys:
        tree["public-keys"] = keys
    if inst.tags:
        tree["tags"] = {"instance": dict(inst.tags)}
    return Dir(sorted(tree.items()))


def identity_document(config: Config, ident: Identity) -> str:
    inst, cloud = ident.instance, config.cloud
    doc = {
        "accountId": cloud.account_id,
        "architecture": "x86_64",
        "availabilityZone": cloud.availability_zone,
        "billingProducts": None,
        "devpayProductCodes": None,
        "imageId": inst.image,
        "instanceId": inst.instance_id,
        "instanceType": inst.instance_type,
        "kernelId": None,
        "marketplaceProductCodes": None,
        "pendingTime": "1970-01-01T00:00:00Z",
        "privateIp": ident.ip,
        "ramdiskId": None,
        "region": cloud.region,
        "version": "2017-09-30",
    }
    return json.dumps(doc, indent=2)


def identity_tree(config: Config, ident: Identity) -> dict:
    """The document, and its three signatures when the service has a signing key."""
    document = identity_document(config, ident)
    tree = {"document": document}
    if config.identity_signing is not None:
        files = (str(config.identity_signing.key_file), str(config.identity_signing.cert_file))
        tree.update({form: Lazy(functools.partial(_sign, files, form, document))
                     for form in signing.FORMS})
    return tree


def _sign(files: tuple[str, str], form: str, document: str) -> str:
    return signing.load(*files).sign(form, document)


def version_tree(config: Config, ident: Identity) -> Dir:
    """`/<version>/`: what a dated (or latest) version holds. user-data only when there is some,
    as on AWS (cloud-init treats its 404 as "no user-data")."""
    tree: dict = {
        "dynamic": Dir({"instance-identity": Dir(identity_tree(config, ident))}),
        "meta-data": metadata_tree(config, ident),
    }
    if ident.instance.user_data is not None:
        tree["user-data"] = ident.instance.user_data
    return Dir(tree)

