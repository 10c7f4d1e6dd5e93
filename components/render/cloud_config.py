"""cloud-init user-data of an instance: `#cloud-config` + YAML (seed design: cloud-init in every
instance). Pure; validated by cloud-init 22.4.2's own schema in strict mode in the tests.

The instance's `userData` from the stack spec is the base; the renderer adds what the cloud knows
about the instance (its hostname and FQDN in the cloud's domain) unless the spec sets them.
"""

from __future__ import annotations

from typing import Any, Optional

import yaml

HEADER = "#cloud-config\n"


def user_data_dict(user_data: dict[str, Any], *, hostname: Optional[str] = None,
                   domain: Optional[str] = None) -> dict[str, Any]:
    """The cloud-config mapping: the spec's user-data plus hostname/fqdn defaults."""
    config: dict[str, Any] = {}
    if hostname:
        config["hostname"] = hostname
        if domain:
            config["fqdn"] = f"{hostname}.{domain}"
            config["prefer_fqdn_over_hostname"] = False
    config.update(user_data)
    return config


def render(user_data: dict[str, Any], *, hostname: Optional[str] = None,
           domain: Optional[str] = None) -> str:
    """`#cloud-config` + YAML, keys in a stable order (so the text only changes with the spec)."""
    config = user_data_dict(user_data, hostname=hostname, domain=domain)
    return HEADER + yaml.safe_dump(config, sort_keys=True, default_flow_style=False)


def parse(text: str) -> dict[str, Any]:
    """The mapping back from a cloud-config text (for drift checks and tests)."""
    if not text.startswith(HEADER):
        raise ValueError("not a cloud-config (must start with '#cloud-config')")
    return yaml.safe_load(text[len(HEADER):]) or {}


def instances_user_data(spec) -> dict[str, str]:
    """{instance: its user-data text}, for every instance of a StackSpec."""
    domain = spec.network.domain if spec.network else None
    return {i.name: render(i.user_data, hostname=i.name, domain=domain) for i in spec.instances}
