"""mammatus:config:Configuration — cloud-init for every instance (seed design: cloud-init in all
instances): the user-data of each spec instance (components/render/cloud_config.py) and the
metadata service's inventory of instances (name, MACs, image, host, admin SSH key, user-data),
which the Metadata layer writes next to its config and serves with the vendor-data.

Provides `inventory` (Output[str]) for the Metadata layer.
Order: Configuration -> Metadata -> Compute (instances boot once their data is served).
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.context import CloudContext
from components.render import cloud_config, metadata_config


class Configuration(pulumi.ComponentResource):
    user_data: pulumi.Output[dict]
    inventory: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, telemetry_users: Optional[dict] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        """telemetry_users: {instance: (InfluxDB user, password)} from the Monitoring layer,
        served to each instance alone (the inventory is the metadata service's 0600 file)."""
        super().__init__("mammatus:config:Configuration", name, None, opts)
        spec = ctx.spec
        user_data = cloud_config.instances_user_data(spec)
        users = telemetry_users or {}
        names = sorted(users)
        # Every MAC is known from the spec (StackSpec.instance_mac), so the inventory is ready
        # before the instances boot and ask the metadata service who they are.
        inventory = pulumi.Output.all(ctx.admin_public_key, *[users[n][1] for n in names]).apply(
            lambda got: metadata_config.render_inventory(
                spec, user_data, ssh_keys=[got[0]] if got[0] else [],
                telemetry={n: (users[n][0], password) for n, password in zip(names, got[1:], strict=True)}))
        self.inventory = pulumi.Output.secret(inventory) if users else inventory
        self.user_data = pulumi.Output.from_input(user_data)
        self.register_outputs({"user_data": self.user_data, "inventory": self.inventory})
