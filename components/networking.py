"""mammatus:network:Networking — the macvlan LXD profile of every compute host as data
(components/render/lxd_profiles.py), for the Compute layer that creates LXD profiles with its
pylxd provider: `profiles_data` = {compute host name: profile dict}. Instances on
a macvlan NIC take their address from the cloud's DHCP server (seed design). Needs nothing
from earlier layers."""

from __future__ import annotations

from typing import Optional

import pulumi

from components.context import CloudContext
from components.render import lxd_profiles


class Networking(pulumi.ComponentResource):
    profile_name: pulumi.Output[str]
    profiles: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:network:Networking", name, None, opts)
        profiles = lxd_profiles.macvlan_profiles(ctx.spec)
        self.profiles_data: dict[str, dict] = profiles
        self.profile_name = pulumi.Output.from_input(lxd_profiles.MACVLAN_PROFILE)
        self.profiles = pulumi.Output.from_input(profiles)
        self.register_outputs({"profile_name": self.profile_name, "profiles": self.profiles})
