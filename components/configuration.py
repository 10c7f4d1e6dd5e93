"""mammatus:config:Configuration — cloud-init for every instance (seed design: cloud-init in all
instances): the user-data of each spec instance (components/render/cloud_config.py) and the
metadata service's inventory of instances (name, MACs, image, host, admin SSH key, user-data),
which the Metadata layer writes next to its config and serves with the vendor-data.

Provides `inventory` (Output[str]) for the Metadata layer.
Order: Configuration -> Metadata -> Compute (instances boot once their data is served).
"""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi

from components.context import CloudContext
from components.render import cloud_config, metadata_config


class Configuration(pulumi.ComponentResource):
    user_data: pulumi.Output[dict]
    inventory: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext,
                 credentials: Optional[Mapping[str, Mapping[str, pulumi.Input[dict]]]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        """credentials: {kind: {instance: {field: value}}}, what each instance alone is served
        (the inventory is the metadata service's 0600 file): `telemetry` its InfluxDB user from
        the Monitoring layer, `consul` its agent's secrets from ServiceDiscovery, `vault` its
        AppRole credentials from Secrets, `iscsi` its CHAP passwords from BlockStorage."""
        super().__init__("mammatus:config:Configuration", name, None, opts)
        spec = ctx.spec
        user_data = cloud_config.instances_user_data(spec)
        pairs = sorted((kind, inst) for kind, by_instance in (credentials or {}).items()
                       for inst in by_instance)
        # Every MAC is known from the spec (StackSpec.instance_mac), so the inventory is ready
        # before the instances boot and ask the metadata service who they are.

        def render(got: list) -> str:
            per_instance: dict[str, dict[str, dict]] = {}
            for (kind, inst), fields in zip(pairs, got[1:], strict=True):
                per_instance.setdefault(inst, {})[kind] = fields
            return metadata_config.render_inventory(
                spec, user_data, ssh_keys=[got[0]] if got[0] else [], credentials=per_instance)

        inventory = pulumi.Output.all(
            ctx.admin_public_key, *[credentials[k][i] for k, i in pairs]).apply(render)
        self.inventory = pulumi.Output.secret(inventory) if pairs else inventory
        self.user_data = pulumi.Output.from_input(user_data)
        self.register_outputs({"user_data": self.user_data, "inventory": self.inventory})
