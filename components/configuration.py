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

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:config:Configuration", name, None, opts)
        spec = ctx.spec
        user_data = cloud_config.instances_user_data(spec)
        # Every MAC is known from the spec (StackSpec.instance_mac), so the inventory is ready
        # before the instances boot and ask the metadata service who they are.
        self.inventory = pulumi.Output.from_input(ctx.admin_public_key).apply(
            lambda key: metadata_config.render_inventory(spec, user_data,
                                                         ssh_keys=[key] if key else []))
        self.user_data = pulumi.Output.from_input(user_data)
        self.register_outputs({"user_data": self.user_data, "inventory": self.inventory})
