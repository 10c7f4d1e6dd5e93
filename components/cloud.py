"""The whole cloud of one stack: every layer's component, wired explicitly in dependency order.

Each layer's constructor says what it needs from earlier layers (typed records from
components/contracts.py, or a component); the layer provides its own as attributes. Whether a
layer is built follows the spec's placement, whose prerequisites stacks/checks.py has checked,
so the same graph serves a one-host lab and the seed's home cloud.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.artifacts import ArtifactServer
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
from components.host import pinned_host_keys
from components.foundation import Foundation
from components.functions import Functions
from components.gateway import Gateway
from components.load_balancer import LoadBalancer
from components.messaging import Nats, Notifications, Queues
from components.metadata import Metadata
from components.alerts import Alerts
from components.monitoring import Monitoring
from components.networking import Networking
from components.object_storage import ObjectStorage
from components.serf import Serf
from components.ssh_access import SshAccess
from components.telemetry import InstanceTelemetry
from components.vault import Vault
from stacks.spec import Role, StackSpec


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
        else:
            # A real host's key: its spec's `hostKey`, else pinned on first use.
            ctx.host_keys = pinned_host_keys(f"{name}-host-key", spec.hosts, self)

        self.layers: dict[str, pulumi.ComponentResource] = {}

        def layer(key: str, component, **inputs):
            built = self.layers[key] = component(f"{name}-{key}", ctx, opts=child, **inputs)
            return built

        p = spec.placement
        if spec.hosts:
            layer("ssh", SshAccess)
            # What the hosts run, for their architecture, before any layer runs it. From here
            # on every command to a host waits for its packages, and layers run what it placed.
            delivery = layer("delivery", Delivery)
            ctx.host_ready = delivery.host_ready
            ctx.binaries, ctx.runtimes = delivery.placed, delivery.runtimes

        # The LAN: the router and its firewall, then DHCP/DNS/TFTP.
        dhcp = None
        if spec.gateway and spec.network:
            gateway = layer("gateway", Gateway)
            layer("firewall", Firewall, gateway=gateway.route)
            dhcp = layer("dhcp-dns-tftp", DhcpDnsTftp).server
        # What instances install their agents from, by name on the LAN.
        artifacts = None
        if p.artifacts:
            artifacts = layer("artifacts", ArtifactServer, served=delivery.instance_artifacts,
                              dhcp=dhcp).source
        compute_hosts = bool(spec.hosts_with(Role.compute))
        networking = layer("networking", Networking) if compute_hosts else None

        # Services the others build on: the CA, membership, monitoring, discovery, secrets.
        ca = layer("ca", CertificateAuthority).handle if p.ca else None
        if spec.hosts:
            layer("serf", Serf)
        monitoring = layer("monitoring", Monitoring, ca=ca).endpoints if p.monitoring else None
        consul = layer("consul", Consul, ca=ca, artifacts=artifacts) if p.consul else None
        vault = layer("vault", Vault, ca=ca) if p.vault else None
        if monitoring is not None:
            layer("telemetry", InstanceTelemetry, monitoring=monitoring, artifacts=artifacts)

        # Messaging: NATS, then SNS and SQS on it.
        nats = layer("nats", Nats).server if p.nats else None
        notifications = layer("notifications", Notifications, nats_server=nats, ca=ca) \
            if p.sns else None
        queues = layer("queues", Queues, nats_server=nats, notifications=notifications, ca=ca) \
            if p.sqs else None
        # Alerts need both: the rules read Monitoring's InfluxDB and go out through SNS.
        if monitoring is not None and notifications is not None and spec.monitoring.alert_topic:
            layer("alerts", Alerts, monitoring=monitoring, sns=notifications.api,
                  topics=notifications.topics)

        # Block storage before the instances' data: an instance's CHAP passwords go into the
        # inventory, its initiator config into vendor-data (the component's name, and so every
        # URN under it, is the same wherever it is built).
        block_storage = layer("block-storage", BlockStorage) if spec.volumes else None

        # Instances: their cloud-init data served first, then the instances themselves.
        metadata = None
        if p.metadata:
            credentials = {}
            if monitoring is not None and monitoring.instance_users:
                credentials["telemetry"] = {
                    i: pulumi.Output.all(u, pw).apply(lambda a: {"username": a[0], "password": a[1]})
                    for i, (u, pw) in monitoring.instance_users.items()}
            if vault is not None and vault.instance_credentials:
                credentials["vault"] = vault.instance_credentials
            if consul is not None and consul.instance_secrets:
                credentials["consul"] = {i: text.apply(lambda t: {"config": t})
                                         for i, text in consul.instance_secrets.items()}
            if block_storage is not None and block_storage.instance_credentials:
                credentials["iscsi"] = block_storage.instance_credentials
            configuration = layer("configuration", Configuration, credentials=credentials)
            metadata = layer("metadata", Metadata, inventory=configuration.inventory,
                             dhcp=dhcp, ca=ca).service
        if networking is not None:
            # The instances' image was the dev box's child once (Compute aliases it).
            layer("compute", Compute, macvlan_profiles=networking.profiles_data,
                  metadata=metadata, dhcp=dhcp, image_alias_parent=self.dev_box)

        # Object storage, the load balancer and functions.
        if p.object_storage:
            layer("object-storage", ObjectStorage, ca=ca)
        if p.load_balancer:
            layer("load-balancer", LoadBalancer, ca=ca, dhcp=dhcp)
        if p.functions:
            layer("functions", Functions,
                  sns=notifications.api if notifications else None,
                  sqs=queues.api if queues else None,
                  topics=notifications.topic_resources if notifications else None,
                  queues=queues.queue_resources if queues else None, ca=ca)

        # A LAN machine with only a DHCP client, for the user (and the e2e tests) to work from.
        self.client = None
        if self.dev_box and dhcp is not None:
            self.client = DevClient(f"{name}-client", spec, self.dev_box, dhcp.resource,
                                    opts=child)
        self.register_outputs({"run_dir": self.foundation.run_dir})

    def export(self) -> None:
        """Stack outputs a user of the cloud reads (`bin/pulumi stack output`)."""
        spec, layers = self.spec, self.layers
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
        if "dhcp-dns-tftp" in layers:
            pulumi.export("dns", layers["dhcp-dns-tftp"].server.dns_address)
        endpoints = {}
        if "ca" in layers:
            ca = layers["ca"].handle
            endpoints.update(ca_url=ca.url, ca_root_fingerprint=ca.root_fingerprint,
                             ca_root_pem=ca.root_pem)
        if "metadata" in layers:
            endpoints["metadata_url"] = layers["metadata"].service.url
            if "ca" in layers:
                # What verifies an instance identity document's signatures (as AWS publishes its).
                endpoints["instance_identity_certificate"] = layers["metadata"].identity_certificate
        for key, service in (("sns_endpoint", "notifications"), ("sqs_endpoint", "queues")):
            if service in layers:
                endpoints[key] = layers[service].api.endpoint
        if "nats" in layers:
            endpoints["nats_url"] = layers["nats"].server.url
        if "monitoring" in layers:
            endpoints["influx_url"] = layers["monitoring"].endpoints.influx_url
        if "artifacts" in layers:
            endpoints["artifacts_url"] = layers["artifacts"].url
        if "object-storage" in layers:
            # An S3 endpoint URL (https with the CA), as boto3's endpoint_url takes it.
            endpoints["object_storage_endpoint"] = layers["object-storage"].endpoint
        for key, value in endpoints.items():
            pulumi.export(key, value)
        # An access key each service accepts, for its users.
        for service, layer in (("sns", "notifications"), ("sqs", "queues")):
            if layer in layers:
                conn = layers[layer].api.connection
                pulumi.export(f"{service}_credentials", pulumi.Output.secret(
                    {"access_key": conn["access_key"], "secret_key": conn["secret_key"]}))
        if "consul" in layers:  # the Consul API (HTTPS, the CA's root) and its management token
            pulumi.export("consul_url", layers["consul"].http_url)
            pulumi.export("consul_management_token", layers["consul"].management_token)
        if "object-storage" in layers:  # {user: {access_key, secret_key}} of the buckets' users
            pulumi.export("object_storage_credentials", layers["object-storage"].credentials)
        if "block-storage" in layers:   # {volume: {initiator: {userid, password}}}: CHAP
            pulumi.export("block_storage_credentials", layers["block-storage"].chap)
        if "delivery" in self.layers:  # {host: {binary: "<platform> sha256:<digest>"}}
            pulumi.export("delivered", self.layers["delivery"].binaries)
        if "load-balancer" in layers:  # {name: {url, backends, tls}}: what users publish
            pulumi.export("routes", layers["load-balancer"].routes)
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
