"""The whole cloud of one stack: wires every layer's component in dependency order."""

from __future__ import annotations

from typing import Optional

import pulumi

from components.context import CloudContext
from components.dev_box import DevBoxPlane, DevClient, dev_hosts_ready
from components.dhcp_dns_tftp import DhcpDnsTftp
from components.firewall import Firewall
from components.foundation import Foundation
from components.gateway import Gateway
from components.networking import Networking
from components.ssh_access import SshAccess
from stacks.spec import Role, StackSpec


class MammatusCloud(pulumi.ComponentResource):
    foundation: Foundation
    dev_box: Optional[DevBoxPlane]
    context: CloudContext

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mammatus:index:Cloud", name, None, opts)
        self.spec = spec
        self.foundation = Foundation(f"{name}-foundation", spec,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.context = CloudContext(spec, self.foundation.admin_private_key,
                                    self.foundation.admin_public_key)

        # The dev stack's "hardware": namespaces wired like the seed's network, one sshd each.
        self.dev_box = None
        if spec.dev_box is not None:
            self.dev_box = DevBoxPlane(
                f"{name}-box", spec, self.foundation.admin_public_key,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.foundation]))
            self.context.shared["hosts_ready"] = dev_hosts_ready(self.dev_box)

        ctx, child = self.context, pulumi.ResourceOptions(parent=self)
        self.layers: dict[str, pulumi.ComponentResource] = {}
        if spec.hosts:
            # The dev box runs each host's sshd itself; SshAccess then only places the key.
            self.layers["ssh"] = SshAccess(f"{name}-ssh", ctx, opts=child,
                                           manage_sshd=spec.dev_box is None)
        if spec.gateway and spec.network:
            self.layers["gateway"] = Gateway(f"{name}-gateway", ctx, opts=child)
            self.layers["firewall"] = Firewall(f"{name}-firewall", ctx, opts=child)
            self.layers["dhcp_dns_tftp"] = DhcpDnsTftp(f"{name}-dhcp-dns-tftp", ctx, opts=child)
        if spec.hosts_with(Role.compute):
            self.layers["networking"] = Networking(f"{name}-networking", ctx, opts=child)

        # A LAN machine with only a DHCP client, for the user (and the e2e tests) to work from.
        self.client = None
        if self.dev_box and "dnsmasq" in ctx.shared:
            self.client = DevClient(f"{name}-client", spec, self.dev_box,
                                    ctx.shared["dnsmasq"]["resource"], opts=child)
        self.register_outputs({"run_dir": self.foundation.run_dir})

    def export(self) -> None:
        """Stack outputs a user of the cloud reads (`bin/pulumi stack output`)."""
        spec = self.spec
        pulumi.export("run_dir", self.foundation.run_dir)
        pulumi.export("admin_public_key", self.foundation.admin_public_key)
        pulumi.export("admin_public_key_file", self.foundation.admin_public_key_file)
        pulumi.export("admin_password", self.foundation.admin_password)
        pulumi.export("admin_private_key", self.foundation.admin_private_key)
        pulumi.export("hosts", {h.name: str(h.address) for h in spec.hosts})
        if spec.network:
            pulumi.export("domain", spec.network.domain)
        if spec.gateway:
            pulumi.export("gateway_lan_ip", str(spec.gateway.lan_address))
        if self.dev_box:
            pulumi.export("upstream_netns", self.dev_box.upstream_netns)
            pulumi.export("host_netns", {h.name: h.netns for h in spec.hosts})
        if self.client:
            pulumi.export("client_netns", self.client.netns)
            pulumi.export("client_address", self.client.address)
