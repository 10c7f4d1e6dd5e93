"""mammatus:config:Configuration — cloud-init for every instance (seed design: cloud-init in all
instances): the user-data of each spec instance (components/render/cloud_config.py) and the
metadata service's inventory of instances (name, MACs, image, host, admin SSH key, user-data),
which the Metadata layer writes next to its config and serves with the vendor-data.

Needs (ctx.shared): "vendor_data" (optional, from the Services layers: the metadata
config's `vendor_data` section — consul/vault/telegraf). Puts: "user_data" ({instance: text}),
"metadata_inventory" (Output[str]), "metadata_vendor_data" (the vendor_data it saw).
Order: Configuration -> Metadata -> Compute (instances boot once their data is served).

Also holds the small helper the placement components share: how a Mammatus Python service is
started on a host.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from components.context import CloudContext
from components.delivery import python_runtime
from components.host import HostAccess
from components.render import cloud_config, metadata_config
from components.service_manager import Daemon


def python_daemon(ctx: CloudContext, access: HostAccess, name: str, module: str,
                  args: Sequence[str], description: str, **identity
                  ) -> tuple[Daemon, list[pulumi.Resource]]:
    """A Mammatus Python service (`python -m services.x …`) on a host, run by the venv the
    Delivery layer made there, and the resources to wait for. The interpreter's path holds the
    bundle's digest, so a new bundle restarts the daemon. `identity`: Daemon's user, state_dir,
    capabilities."""
    runtime = python_runtime(ctx, access)
    return (Daemon(name=name, description=description,
                   command=[runtime.python, "-m", module, *args],
                   environment={"PYTHONPATH": runtime.pythonpath, "PYTHONUNBUFFERED": "1"},
                   **identity),
            runtime.deps)


def instance_user_data(ctx: CloudContext) -> dict[str, str]:
    domain = ctx.spec.network.domain if ctx.spec.network else None
    return {i.name: cloud_config.render(i.user_data, hostname=i.name, domain=domain)
            for i in ctx.spec.instances}


class Configuration(pulumi.ComponentResource):
    user_data: pulumi.Output[dict]
    inventory: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:config:Configuration", name, None, opts)
        spec = ctx.spec
        user_data = instance_user_data(ctx)
        # Every MAC is known from the spec (StackSpec.instance_mac), so the inventory is ready
        # before the instances boot and ask the metadata service who they are.
        self.inventory = pulumi.Output.from_input(ctx.admin_public_key).apply(
            lambda key: metadata_config.render_inventory(spec, user_data,
                                                         ssh_keys=[key] if key else []))
        self.user_data = pulumi.Output.from_input(user_data)
        ctx.shared["user_data"] = user_data
        ctx.shared["metadata_inventory"] = self.inventory
        ctx.shared["metadata_vendor_data"] = ctx.shared.get("vendor_data")
        self.register_outputs({"user_data": self.user_data, "inventory": self.inventory})
