"""The whole cloud of one stack: wires every layer's component in dependency order.

Each layer reads what earlier layers put in `ctx.shared` and adds its own (see each component's
docstring); a layer is built only when the stack's spec asks for it, so the same graph serves a
one-host lab and the seed's home cloud.
"""

from __future__ import annotations

from typing import Callable, Optional

import pulumi

from components.block_storage import BlockStorage
from components.ca import CertificateAuthority
from components.compute import Compute
from components.configuration import Configuration
from components.consul import Consul
from components.context import CloudContext
from components.dev_box import DevBoxPlane, DevClient, dev_hosts_ready
from components.delivery import Delivery
from components.dhcp_dns_tftp import DhcpDnsTftp
from components.firewall import Firewall
from components.foundation import Foundation
from components.functions import Functions
from components.gateway import Gateway
from components.load_balancer import LoadBalancer
from components.messaging import Nats, Notifications, Queues
from components.metadata import Metadata
from components.monitoring import Monitoring
from components.networking import Networking
from components.object_storage import ObjectStorage
from components.serf import Serf
from components.ssh_access import SshAccess
from components.telemetry import InstanceTelemetry
from components.vault import Vault
from stacks.spec import Role, StackSpec

Layer = tuple[str, Callable[[StackSpec, CloudContext], bool], Callable]

# (name, wanted for this spec?, component) in dependency order. A layer's prerequisites are
# checked with the spec (stacks/checks.py PLACEMENT_NEEDS), so none is skipped for want of one.
LAYERS: list[Layer] = [
    ("gateway", lambda s, c: bool(s.gateway and s.network), Gateway),
    ("firewall", lambda s, c: bool(s.gateway and s.network), Firewall),
    ("dhcp-dns-tftp", lambda s, c: bool(s.gateway and s.network), DhcpDnsTftp),
    ("networking", lambda s, c: bool(s.hosts_with(Role.compute)), Networking),
    ("ca", lambda s, c: bool(s.placement.ca), CertificateAuthority),
    ("serf", lambda s, c: bool(s.hosts), Serf),
    ("monitoring", lambda s, c: bool(s.placement.monitoring), Monitoring),
    ("consul", lambda s, c: bool(s.placement.consul), Consul),
    ("vault", lambda s, c: bool(s.placement.vault), Vault),
    ("telemetry", lambda s, c: "influx_url" in c.shared, InstanceTelemetry),
    ("nats", lambda s, c: bool(s.placement.nats), Nats),
    ("notifications", lambda s, c: bool(s.placement.sns), Notifications),
    ("queues", lambda s, c: bool(s.placement.sqs), Queues),
    ("configuration", lambda s, c: bool(s.placement.metadata), Configuration),
    ("metadata", lambda s, c: bool(s.placement.metadata), Metadata),
    ("compute", lambda s, c: bool(s.hosts_with(Role.compute)), Compute),
    ("block-storage", lambda s, c: bool(s.volumes), BlockStorage),
    ("object-storage", lambda s, c: bool(s.placement.object_storage), ObjectStorage),
    ("load-balancer", lambda s, c: bool(s.placement.load_balancer), LoadBalancer),
    ("functions", lambda s, c: bool(s.placement.functions), Functions),
]


class MammatusCloud(pulumi.ComponentResource):
    foundation: Foundation
    dev_box: Optional[DevBoxPlane]
    client: Optional[DevClient]
    context: CloudContext

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mammatus:index:Cloud", name, None, opts)
        self.spec = spec
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = Foundation(f"{name}-foundation", spec, opts=child)
        ctx = self.context = CloudContext(spec, self.foundation.admin_private_key,
                                          self.foundation.admin_public_key)

        # The dev stack's "hardware": bridges wired like the seed's network, a container per host.
        self.dev_box = None
        if spec.dev_box is not None:
            self.dev_box = DevBoxPlane(
                f"{name}-box", spec, self.foundation.admin_public_key,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.foundation]))
            ctx.hosts_ready = dev_hosts_ready(self.dev_box)
            ctx.host_keys = self.dev_box.host_keys
            # The instances' image was the plane's child once (components/compute.py aliases it).
            ctx.shared["image_alias_parent"] = self.dev_box

        self.layers: dict[str, pulumi.ComponentResource] = {}
        if spec.hosts:
            self.layers["ssh"] = SshAccess(f"{name}-ssh", ctx, opts=child)
            # What the hosts run, for their architecture, before any layer runs it.
            delivery = self.layers["delivery"] = Delivery(f"{name}-delivery", ctx, opts=child)
            # From here on, every command to a host waits for its packages, and layers run
            # what Delivery placed.
            ctx.host_ready = delivery.host_ready
            ctx.binaries, ctx.runtimes = delivery.placed, delivery.runtimes
        for layer, wanted, component in LAYERS:
            if wanted(spec, ctx):
                self.layers[layer] = component(f"{name}-{layer}", ctx, opts=child)

        # A LAN machine with only a DHCP client, for the user (and the e2e tests) to work from.
        self.client = None
        if self.dev_box and "dnsmasq" in ctx.shared:
            self.client = DevClient(f"{name}-client", spec, self.dev_box,
                                    ctx.shared["dnsmasq"]["resource"], opts=child)
        self.register_outputs({"run_dir": self.foundation.run_dir})

    def export(self) -> None:
        """Stack outputs a user of the cloud reads (`bin/pulumi stack output`)."""
        spec, shared = self.spec, self.context.shared
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
        if "dns" in shared:
            pulumi.export("dns", shared["dns"]["address"])
        endpoints = {
            "ca_url": shared.get("ca_url"), "ca_root_fingerprint": shared.get("ca_root_fingerprint"),
            "ca_root_pem": shared.get("ca_root_pem"),
            "metadata_url": (shared.get("metadata") or {}).get("url"),
            "sns_endpoint": (shared.get("sns") or {}).get("endpoint"),
            "sqs_endpoint": (shared.get("sqs") or {}).get("endpoint"),
            "nats_url": (shared.get("nats") or {}).get("url"),
            "grafana_url": shared.get("grafana_url"),
            "object_storage_endpoint": (shared.get("object_storage") or {}).get("endpoint"),
        }
        for key, value in endpoints.items():
            if value is not None:
                pulumi.export(key, value)
        for service in ("sns", "sqs"):  # an access key each service accepts, for its users
            if service in shared:
                conn = shared[service]["connection"]
                pulumi.export(f"{service}_credentials", pulumi.Output.secret(
                    {"access_key": conn["access_key"], "secret_key": conn["secret_key"]}))
        if "delivery" in self.layers:  # {host: {binary: "<platform> sha256:<digest>"}}
            pulumi.export("delivered", self.layers["delivery"].binaries)
        if "compute" in self.layers:   # {name: {host, status, ipv4, mac}}
            pulumi.export("instances", self.layers["compute"].instances)
        if self.dev_box:
            pulumi.export("upstream_netns", self.dev_box.upstream_netns)
            # `LXD_DIR=<box_lxd_dir> lxc exec <container> -- bash`: a root shell on a host.
            pulumi.export("box_lxd_dir", self.dev_box.lxd_dir)
            pulumi.export("host_containers", {h: c.name for h, c in self.dev_box.hosts.items()})
        if self.client:
            pulumi.export("client_netns", self.client.netns)
            pulumi.export("client_address", self.client.address)
