"""mammatus:compute:Compute — LXD on every compute host (seed design: LXD for compute, macvlan
so instances take their address from the cloud's DHCP server).

Per compute host: `lxd init --preseed` (HTTPS API on the host's address, a dir storage pool, a
default profile with the root disk and no bridge), the cloud's LXD client certificate trusted,
the macvlan profile (Networking's `profiles_data`[host], or rendered here from
the host's lanInterface), the images its instances use (built by Mammatus, below), and the
spec's instances (dynamic_providers/lxd.py): image, profiles default+macvlan, limits from size,
cloud-init user-data (components/render/cloud_config.py), the instance's MAC
(StackSpec.instance_mac: the spec's, or derived, so DHCP and the metadata inventory know it
before the instance boots).

Every stack's instances boot the image Mammatus builds with debootstrap on the machine running
Pulumi (dynamic_providers/rootfs_image.py: systemd, cloud-init knowing only the metadata
service, openssh-server), cached machine-wide and uploaded over each compute host's LXD API: an
image server's images would use LXD's own datasource and never see the metadata service, the
admin key or vendor-data (stacks/checks.py allows only the built images). Building needs root
and debootstrap on that machine (`tools/setup`).

Each host runs its distribution's LXD unit (the Delivery layer installs the package). A host
that is itself a container (a VPS, or the dev stack's compute host, whose LXD is nested) has only
part of the id space: `subids_command` gives root a subordinate range inside it, as LXD needs
for unprivileged instances (a host with the full id space keeps LXD's default).

Needs (all optional): Networking's profiles, the MetadataService (instances boot once it
serves their data), the DhcpServer (each instance is named there by its MAC, a
DnsmasqReservation without an address), and the dev box (where the image resource lived
before: an alias).
Order: Networking -> Configuration -> Metadata -> Compute.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_command as command
import pulumi_tls as tls

from components.context import CloudContext
from components.contracts import DhcpServer, MetadataService, WiringError
from components.host import HostFile
from components.render import cloud_config, lxd_profiles
from components.render.lxd_host import (CLIENT_CERT_PATH, LXD_PORT, PRESEED_PATH, SUBIDS, preseed,
                                       server_cert_of, trust_command)
from dynamic_providers.dnsmasq import DnsmasqReservation
from dynamic_providers.lxd import LxdImage, LxdInstance, LxdProfile
from dynamic_providers.rootfs_image import RootfsImage
from stacks.spec import Role

ADDRESS_TIMEOUT = 120  # seconds an instance on the LAN may take to get its DHCP lease


class Compute(pulumi.ComponentResource):
    hosts: pulumi.Output[list]
    endpoints: pulumi.Output[dict]
    instances: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext,
                 macvlan_profiles: Optional[dict[str, dict]] = None,
                 metadata: Optional[MetadataService] = None, dhcp: Optional[DhcpServer] = None,
                 image_alias_parent: Optional[pulumi.Resource] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:compute:Compute", name, None, opts)
        spec = ctx.spec
        child = pulumi.ResourceOptions(parent=self)
        compute_hosts = spec.hosts_with(Role.compute)

        # One client identity for the whole cloud, trusted by every compute host's LXD.
        key = tls.PrivateKey(f"{name}-lxd-client-key", algorithm="ECDSA", ecdsa_curve="P384",
                             opts=child)
        cert = tls.SelfSignedCert(
            f"{name}-lxd-client-cert", private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name="mammatus-pulumi",
                                                  organization="Mammatus"),
            validity_period_hours=24 * 365 * 10, allowed_uses=["digital_signature", "client_auth"],
            opts=child)

        profiles_data = macvlan_profiles or lxd_profiles.macvlan_profiles(spec)
        image_sources = self._images(name, ctx, image_alias_parent)
        user_data = cloud_config.instances_user_data(spec)
        connections: dict[str, dict] = {}
        ready: dict[str, list[pulumi.Resource]] = {}
        for host in compute_hosts:
            access = ctx.access(host.name)
            text = preseed(str(host.address))
            pre = HostFile(f"{name}-{host.name}-preseed", access, PRESEED_PATH,
                           text, opts=child)
            crt = HostFile(f"{name}-{host.name}-client-cert", access, CLIENT_CERT_PATH,
                           cert.cert_pem, opts=child)
            subids = command.remote.Command(
                f"{name}-{host.name}-lxd-subids", connection=access.connection(), create=SUBIDS,
                opts=child)
            init = command.remote.Command(
                f"{name}-{host.name}-lxd-init", connection=access.connection(),
                create=trust_command(PRESEED_PATH, CLIENT_CERT_PATH),
                triggers=[text, cert.cert_pem],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[pre, crt, subids]))
            connections[host.name] = {"endpoint": f"https://{host.address}:{LXD_PORT}",
                                      "client_cert": cert.cert_pem,
                                      "client_key": pulumi.Output.secret(key.private_key_pem),
                                      "server_cert": init.stdout.apply(server_cert_of)}
            ready[host.name] = [init]
            self._profile_and_images(name, host, spec, profiles_data, image_sources, connections, ready)

        # An instance asks the metadata service who it is while it boots: serve first.
        served = [metadata.service] if metadata is not None else []
        after_dhcp = [dhcp.resource] if dhcp is not None else []
        instances: dict[str, LxdInstance] = {}
        for inst in spec.instances:
            if inst.host not in connections:
                raise WiringError(f"mammatus:instances: {inst.name!r} is on {inst.host!r}, "
                                 "which is not a compute host")
            # The cloud's DHCP server names the instance by its MAC (whatever hostname its
            # first request sends), so its DNS name holds from its first lease.
            named = [DnsmasqReservation(
                f"{name}-dhcp-name-{inst.name}", mac=spec.instance_mac(inst), address=None,
                hostname=inst.name, target=dhcp.target,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after_dhcp))] \
                if dhcp is not None else []
            profile_name = (profiles_data.get(inst.host) or {}).get("name", lxd_profiles.MACVLAN_PROFILE)
            profiles = ["default", profile_name] if inst.profile == lxd_profiles.MACVLAN_PROFILE \
                else ["default", inst.profile]
            instances[inst.name] = LxdInstance(
                f"{name}-instance-{inst.name}", name=inst.name, image=inst.image,
                size={"cpus": inst.size.cpus, "memory_mb": inst.size.memory_mb,
                      "disk_gb": inst.size.disk_gb},
                profiles=profiles, user_data=user_data[inst.name], mac=spec.instance_mac(inst),
                connection=connections[inst.host],
                # On the LAN, `up` waits for the DHCP lease (the instance's address output).
                address_timeout=ADDRESS_TIMEOUT if inst.profile == lxd_profiles.MACVLAN_PROFILE else None,
                opts=pulumi.ResourceOptions(parent=self, depends_on=ready[inst.host] + served + named))

        self.hosts = pulumi.Output.from_input([h.name for h in compute_hosts])
        self.endpoints = pulumi.Output.from_input(
            {h: c.get("endpoint") or f"unix:{c['socket']}" for h, c in connections.items()})
        hosts_of = {i.name: i.host for i in spec.instances}
        self.instances = pulumi.Output.all(**{
            n: pulumi.Output.all(i.status, i.ipv4, i.mac_address).apply(
                lambda a, h=hosts_of[n]: {"host": h, "status": a[0], "ipv4": a[1], "mac": a[2]})
            for n, i in instances.items()}) if instances else pulumi.Output.from_input({})
        self.register_outputs({"hosts": self.hosts, "endpoints": self.endpoints,
                               "instances": self.instances})

    def _images(self, name: str, ctx: CloudContext, old_parent: Optional[pulumi.Resource]
                ) -> dict[str, dict]:
        """{spec image name: {"path": tarball}}: each image the instances use, built once."""
        # The image was the dev box's child before it moved here: same resource, no rebuild.
        sources = {}
        for image in sorted({i.image for i in ctx.spec.instances}):
            aliases = [pulumi.Alias(name=f"{old_parent._name}-image-{image}", parent=old_parent)] \
                if old_parent is not None else []
            built = RootfsImage(f"{name}-image-{image}",
                                opts=pulumi.ResourceOptions(parent=self, aliases=aliases))
            sources[image] = {"path": built.path}
        return sources

    def _profile_and_images(self, name, host, spec, profiles_data, image_sources, connections, ready):
        """The host's macvlan profile and the images its instances use (after LXD is ready)."""
        after = pulumi.ResourceOptions(parent=self, depends_on=list(ready[host.name]))
        profile = profiles_data.get(host.name) or lxd_profiles.macvlan_profile(host.lan_interface)
        ready[host.name].append(LxdProfile(
            f"{name}-{host.name}-profile-{profile['name']}", name=profile["name"],
            config=profile.get("config") or {}, devices=profile["devices"],
            description=profile.get("description", ""), connection=connections[host.name],
            opts=after))
        for image in sorted({i.image for i in spec.instances if i.host == host.name}):
            ready[host.name].append(LxdImage(
                f"{name}-{host.name}-image-{image}", alias=image, source=image_sources[image],
                connection=connections[host.name], opts=after))
