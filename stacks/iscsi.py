"""The cloud's iSCSI names, shared by the whole-cloud checks and the BlockStorage layer.

IQNs are in RFC 3720's `iqn.<yyyy-mm>.<naming authority>:<unique name>` form, with the cloud's
domain as the naming authority written as it is (as the targets' own IQNs,
dynamic_providers/targetcli.py `target_iqn`). Each instance's initiator is
`iqn.2026-11.<domain>:<instance>`: what its vendor-data writes to
/etc/iscsi/initiatorname.iscsi. A volume's `initiators` entry of that form names the instance
that gets the volume configured; any other IQN is a machine outside the cloud, whose CHAP
secret the user takes from the stack output `block_storage_credentials`.
"""

from __future__ import annotations

import re
from typing import Optional

IQN_DATE = "2026-11"
DEFAULT_DOMAIN = "mammatus"


def cloud_domain(spec) -> str:
    return spec.network.domain if spec.network else DEFAULT_DOMAIN


def target_iqn(volume: str, host: str, domain: str = DEFAULT_DOMAIN, date: str = IQN_DATE) -> str:
    """A volume's target IQN: iqn.<date>.<domain>:<host>.<volume>."""
    return f"iqn.{date}.{domain}:{host}.{volume}"


def instance_iqn(instance: str, domain: str) -> str:
    """An instance's initiator IQN."""
    return f"iqn.{IQN_DATE}.{domain}:{instance}"


def cloud_initiator(iqn: str, domain: str) -> Optional[tuple[str, str]]:
    """(date, name) of an IQN under the cloud's naming authority (`iqn.<date>.<domain>:<name>`);
    None for any other IQN."""
    found = re.match(rf"^iqn\.(\d{{4}}-\d{{2}})\.{re.escape(domain)}:(.+)$", iqn)
    return (found.group(1), found.group(2)) if found else None


def initiator_instance(iqn: str, spec) -> Optional[str]:
    """The spec instance whose own IQN this is, else None."""
    instances = {i.name for i in spec.instances}
    ours = cloud_initiator(iqn, cloud_domain(spec))
    return ours[1] if ours and ours[0] == IQN_DATE and ours[1] in instances else None
