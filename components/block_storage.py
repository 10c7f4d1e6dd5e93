"""mammatus:storage:BlockStorage — iSCSI volumes on the storage hosts (seed design: LIO with
targetcli). Each spec volume is one `IscsiVolume` (dynamic_providers/targetcli.py) on its host:
a sparse fileio backstore under /var/lib/mammatus/iscsi, target
iqn.2026-11.<domain>:<host>.<volume>, LUN 0, an ACL per allowed initiator, a portal on the
host's address:3260. On systemd hosts LIO's saved config is restored at boot by Debian's
rtslib-fb-targetctl unit, enabled here.

Needs nothing from earlier layers. Provides `published` ({name: {iqn, portal, host}}) for
whoever attaches them.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_command as command

from components.context import CloudContext
from dynamic_providers.targetcli import IscsiVolume, target_iqn

VOLUME_DIR = "/var/lib/mammatus/iscsi"
ISCSI_PORT = 3260


class BlockStorage(pulumi.ComponentResource):
    volumes: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:storage:BlockStorage", name, None, opts)
        spec = ctx.spec
        domain = spec.network.domain if spec.network else "mammatus"
        host_ready: dict[str, list] = {}
        for host_name in sorted({v.host for v in spec.volumes}):
            access = ctx.access(host_name)
            # The targets come back at boot from targetcli's saved config.
            host_ready[host_name] = [command.remote.Command(
                f"{name}-{host_name}-lio-restore", connection=access.connection(),
                create="systemctl enable rtslib-fb-targetctl",
                opts=pulumi.ResourceOptions(parent=self))]

        published = {}
        created = []
        for vol in spec.volumes:
            access = ctx.access(vol.host)
            iqn = target_iqn(vol.name, vol.host, domain)
            volume = IscsiVolume(
                f"{name}-volume-{vol.name}", name=vol.name, iqn=iqn,
                file=f"{VOLUME_DIR}/{vol.name}.img", size_gb=vol.size_gb,
                initiators=list(vol.initiators),
                portals=[{"ip": str(access.host.address), "port": ISCSI_PORT}],
                connection=access.connection_dict(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=host_ready[vol.host]))
            published[vol.name] = {"host": vol.host, "iqn": iqn,
                                   "portal": f"{access.host.address}:{ISCSI_PORT}"}
            created.append(volume)
        self.published: dict[str, dict] = published
        restores = [d for deps in host_ready.values() for d in deps]
        # Known once every volume (and LIO's boot-time restore) is in place.
        self.volumes = pulumi.Output.all(*[v.id for v in created], *[r.id for r in restores]).apply(
            lambda _: published)
        self.register_outputs({"volumes": self.volumes})
