"""mammatus:artifacts:ArtifactServer — the pinned agent builds instances install (Telegraf for
now; the Consul agent later), served read-only over HTTP on the LAN from the host placed as
`artifacts`, by the name `artifacts.<domain>` (a record in the cloud's DNS).

The Delivery layer puts the files below INSTANCE_ARTIFACTS_ROOT on that host (checked by
sha256 there); this layer runs services/artifacts over them, as its own system user, on the
host's LAN address, and writes `SHA256SUMS` per platform. Instances need no internet: their
vendor-data names each file's URL and sha256, and they refuse a file that does not match, so
plain HTTP is enough (nothing served is secret).

Needs the Delivery layer's `instance_artifacts` and the DhcpServer (the DNS record).
Provides `url` (what vendor-data downloads from) and `served` ({"<platform>/<binary>": sha256}).
"""

from __future__ import annotations

import posixpath
from typing import Optional

import pulumi

from components.context import CloudContext
from components.contracts import ArtifactSource, DhcpServer
from components.host import HostFile, HostService, host_dirs, service_user
from components.naming import domain_of, fqdn
from components.runtime import Delivered, python_daemon
from dynamic_providers.dnsmasq import DnsmasqRecord
from stacks.artifacts import INSTANCE_ARTIFACTS_ROOT

PORT = 8070
USER = "mammatus-artifacts"
NAME = "artifacts"   # its DNS label


def sha256sums(served: dict[str, Delivered], platform: str) -> str:
    """`sha256sum -c` input for one platform's folder."""
    lines = [f"{d.sha256}  {posixpath.basename(key)}" for key, d in sorted(served.items())
             if key.startswith(platform + "/")]
    return "\n".join(lines) + "\n"


class ArtifactServer(pulumi.ComponentResource):
    url: pulumi.Output[str]
    served: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, served: dict[str, Delivered],
                 dhcp: Optional[DhcpServer] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:artifacts:ArtifactServer", name, None, opts)
        access = ctx.placed_for("artifacts", "ArtifactServer")
        address = str(access.host.address)
        child = pulumi.ResourceOptions(parent=self)
        platforms = sorted({key.split("/")[0] for key in served})
        dirs = host_dirs(f"{name}-dirs", access, [INSTANCE_ARTIFACTS_ROOT, *(
            f"{INSTANCE_ARTIFACTS_ROOT}/{p}" for p in platforms)], self)
        sums = [HostFile(f"{name}-sums-{platform}", access,
                         f"{INSTANCE_ARTIFACTS_ROOT}/{platform}/SHA256SUMS",
                         sha256sums(served, platform),
                         opts=pulumi.ResourceOptions(parent=self, depends_on=[dirs]))
                for platform in platforms]
        user = service_user(f"{name}-user", access, USER, self)
        args = ["--listen", f"{address}:{PORT}", "--root", INSTANCE_ARTIFACTS_ROOT]
        daemon, runtime = python_daemon(ctx, access, "artifacts", "services.artifacts", args,
                                        "Artifact server (agents for instances)", user=USER)
        files = [d.resource for d in served.values() if d.resource is not None]
        self.service = HostService(f"{name}-server", access, daemon, config=[" ".join(args)],
                                   depends_on=[dirs, user, *sums, *files, *runtime], opts=child)
        host = fqdn(NAME, domain_of(ctx.spec))
        if dhcp is not None:
            DnsmasqRecord(f"{name}-record", name=host, address=address, target=dhcp.target,
                          opts=pulumi.ResourceOptions(parent=self, depends_on=[dhcp.resource]))
        self.url = self.service.unit.apply(lambda _: f"http://{host}:{PORT}")
        self.served = pulumi.Output.from_input({k: d.sha256 for k, d in served.items()})
        # What instances' vendor-data names (plain values: the digests are the pins).
        self.source = ArtifactSource(url=f"http://{host}:{PORT}",
                                     served={k: d.sha256 for k, d in served.items()})
        self.register_outputs({"url": self.url, "served": self.served})
