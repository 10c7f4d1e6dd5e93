"""mammatus:network:Gateway — the router between the WAN and LAN ports (seed: iptables between
two ethernet ports): IPv4 forwarding on, persisted in sysctl.d; the NAT rule (MASQUERADE of the
LAN subnet out of the WAN port) is published for the Firewall layer, which applies it together
with the filter rules in one atomic iptables-restore file.

Needs nothing from earlier layers; provides `route` (components/contracts.GatewayRoute)."""

from __future__ import annotations

import shlex
from typing import Optional

import pulumi
import pulumi_command as command

from components.context import CloudContext
from components.contracts import GatewayRoute, WiringError
from components.host import HostFile
from components.render import iptables
from components.service_manager import digest

SYSCTL_PATH = "/etc/sysctl.d/90-mammatus-ip-forward.conf"
SYSCTL_CONF = "# Mammatus gateway: route between the LAN and the WAN\nnet.ipv4.ip_forward = 1\n"




class Gateway(pulumi.ComponentResource):
    host: pulumi.Output[str]
    lan_address: pulumi.Output[str]
    wan_interface: pulumi.Output[str]
    nat_rule: pulumi.Output[str]
    ip_forward: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:network:Gateway", name, None, opts)
        spec = ctx.spec
        if spec.gateway is None or spec.network is None:
            raise WiringError("the Gateway layer needs mammatus:gateway and mammatus:network")
        gw = spec.gateway
        access = ctx.access(gw.host)

        sysctl = HostFile(f"{name}-ip-forward-conf", access, SYSCTL_PATH,
                          SYSCTL_CONF,
                          opts=pulumi.ResourceOptions(parent=self))
        conf = shlex.quote(SYSCTL_PATH)
        forward = command.remote.Command(
            f"{name}-ip-forward", connection=access.connection(),
            create=f"# {digest(SYSCTL_CONF)}\nsysctl -p {conf} && sysctl -n net.ipv4.ip_forward",
            delete="sysctl -w net.ipv4.ip_forward=0",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sysctl]))

        nat = iptables.nat_rules(spec)
        self.host = pulumi.Output.from_input(gw.host)
        self.lan_address = pulumi.Output.from_input(str(gw.lan_address))
        self.wan_interface = pulumi.Output.from_input(gw.wan_interface)
        self.nat_rule = pulumi.Output.from_input(iptables.masquerade_rule(spec))
        self.ip_forward = forward.stdout.apply(lambda out: (out or "").strip())
        # For the Firewall, which renders the NAT into its iptables-restore file.
        self.route = GatewayRoute(host=gw.host, lan_address=str(gw.lan_address), nat_rules=nat,
                                  resource=self)
        self.register_outputs({"host": self.host, "lan_address": self.lan_address,
                               "wan_interface": self.wan_interface, "nat_rule": self.nat_rule,
                               "ip_forward": self.ip_forward})
