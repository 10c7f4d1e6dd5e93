"""mammatus:storage:BlockStorage — iSCSI volumes on the storage hosts (seed design: LIO with
targetcli). Each spec volume is one `IscsiVolume` (dynamic_providers/targetcli.py) on its host:
a sparse fileio backstore under /var/lib/mammatus/iscsi, target
iqn.2026-11.<domain>:<host>.<volume>, LUN 0, an ACL per allowed initiator, a portal on the
host's address:3260. On systemd hosts LIO's saved config is restored at boot by Debian's
rtslib-fb-targetctl unit, enabled here.

CHAP on every ACL: each (volume, initiator) has its own random password (pulumi-random, secret
in the state), the user being the initiator's IQN (components/render/iscsi.py); the target
enforces it. Contract only here: this kernel has no configfs, so no target runs in a test.

Instances, real: an initiator that is an instance's own IQN (iqn.2026-11.<domain>:<instance>,
stacks/iscsi.py) gets that instance configured through the metadata service. Its vendor-data
(the `iscsi` settings added here) writes its initiator name and a node record per volume, with
nothing secret; its passwords are `instance_credentials`, which the Configuration layer puts in
the inventory, served to it alone at /mammatus/v1/iscsi-credentials. Those credentials are known
only once the volume's target exists, so the inventory (and so the instance's boot) waits for
its targets. Initiators outside the cloud take theirs from `chap` (a secret stack output).

Needs nothing from earlier layers; built before the Configuration layer, which takes its
credentials. Provides `published` ({name: {iqn, portal, host}}) for whoever attaches them.
"""

from __future__ import annotations

import re
from typing import Optional

import pulumi
import pulumi_command as command
import pulumi_random as random

from components.context import CloudContext
from components.render import iscsi
from dynamic_providers.targetcli import IscsiVolume
from stacks.iscsi import cloud_domain, initiator_instance, target_iqn

VOLUME_DIR = "/var/lib/mammatus/iscsi"
ISCSI_PORT = iscsi.ISCSI_PORT
CHAP_PASSWORD_LENGTH = 24     # letters and digits: ~142 bits, within every initiator's limit


def chap_label(initiator: str) -> str:
    """An initiator IQN as a resource name part."""
    return re.sub(r"[^a-z0-9.-]+", "-", initiator.lower())


class BlockStorage(pulumi.ComponentResource):
    volumes: pulumi.Output[dict]
    # {instance: Output {volume: CHAP password}}, secret: the inventory's `iscsi` credentials.
    instance_credentials: dict[str, pulumi.Output[dict]]
    # {volume: {initiator: {userid, password}}}, secret: for initiators outside the cloud.
    chap: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:storage:BlockStorage", name, None, opts)
        spec = ctx.spec
        child = pulumi.ResourceOptions(parent=self)
        domain = cloud_domain(spec)
        host_ready: dict[str, list] = {}
        for host_name in sorted({v.host for v in spec.volumes}):
            access = ctx.access(host_name)
            # The targets come back at boot from targetcli's saved config.
            host_ready[host_name] = [command.remote.Command(
                f"{name}-{host_name}-lio-restore", connection=access.connection(),
                create="systemctl enable rtslib-fb-targetctl",
                opts=pulumi.ResourceOptions(parent=self))]

        published, created, chap_of = {}, [], {}
        passwords: dict[str, dict[str, pulumi.Output[str]]] = {}
        for vol in spec.volumes:
            access = ctx.access(vol.host)
            iqn = target_iqn(vol.name, vol.host, domain)
            chap = {}
            for initiator in vol.initiators:
                password = random.RandomPassword(
                    f"{name}-volume-{vol.name}-chap-{chap_label(initiator)}",
                    length=CHAP_PASSWORD_LENGTH, special=False, opts=child).result
                chap[initiator] = {"userid": iscsi.chap_userid(initiator), "password": password}
            volume = IscsiVolume(
                f"{name}-volume-{vol.name}", name=vol.name, iqn=iqn,
                file=f"{VOLUME_DIR}/{vol.name}.img", size_gb=vol.size_gb,
                initiators=list(vol.initiators),
                portals=[{"ip": str(access.host.address), "port": ISCSI_PORT}],
                connection=access.connection_dict(), chap=chap,
                opts=pulumi.ResourceOptions(parent=self, depends_on=host_ready[vol.host]))
            published[vol.name] = {"host": vol.host, "iqn": iqn,
                                   "portal": f"{access.host.address}:{ISCSI_PORT}"}
            created.append(volume)
            chap_of[vol.name] = chap
            for initiator, creds in chap.items():
                instance = initiator_instance(initiator, spec)
                if instance is not None:
                    # Known once the target exists: the instance boots after its volumes.
                    passwords.setdefault(instance, {})[vol.name] = pulumi.Output.all(
                        creds["password"], volume.id).apply(lambda a: a[0])
        self.published: dict[str, dict] = published
        self.instance_credentials = {
            instance: pulumi.Output.secret(pulumi.Output.all(**by_volume))
            for instance, by_volume in sorted(passwords.items())}
        self.chap = pulumi.Output.secret(pulumi.Output.from_input(chap_of))
        if passwords:
            # Per instance only: the metadata service's vendor-data has it, no shared part.
            ctx.vendor_data.add("iscsi", {}, iscsi.metadata_settings(spec))
        restores = [d for deps in host_ready.values() for d in deps]
        # Known once every volume (and LIO's boot-time restore) is in place.
        self.volumes = pulumi.Output.all(*[v.id for v in created], *[r.id for r in restores]).apply(
            lambda _: published)
        self.register_outputs({"volumes": self.volumes, "chap": self.chap})
