"""mammatus:cnc:Serf — command and control: a Serf agent on every host (seed: Serf across the
entire cluster), tagged with the host's roles, gossip encrypted with a generated 32-byte key
(pulumi_random.RandomId, a secret), joining the control/gateway hosts, with one handler script per
user event or query (`serf query uptime`, `serf query -tag role-compute=1 disk`, `serf event
deploy …`). Renderer: components/render/serf.py (validated by the real serf agent).

Needs: nothing from earlier layers.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_random as random

from components.context import CloudContext
from components.host import HostFile, HostService, host_dirs
from components.render import serf
from components.service_manager import Daemon


class Serf(pulumi.ComponentResource):
    encrypt_key: pulumi.Output[str]
    join: pulumi.Output[list]
    members: pulumi.Output[list]
    handlers: pulumi.Output[list]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:cnc:Serf", name, None, opts)
        spec = ctx.spec
        child = pulumi.ResourceOptions(parent=self)
        key = random.RandomId(f"{name}-encrypt-key", byte_length=32, opts=child)
        encrypt_key = pulumi.Output.secret(key.b64_std)
        on_host = serf.SerfPaths()
        members = []
        for access in ctx.accesses():
            host = access.host
            dirs = host_dirs(f"{name}-{host.name}-dirs", access,
                         [on_host.handlers_dir, on_host.snapshot.rsplit("/", 1)[0],
                          on_host.config.rsplit("/", 1)[0]], self)
            after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])
            scripts = serf.handler_files(on_host.handlers_dir)
            files = [HostFile(f"{name}-{host.name}-handler-{path.rsplit('/', 1)[1].removesuffix('.sh')}",
                              access, path, script, mode="0755",
                              opts=after_dirs)
                     for path, script in scripts.items()]
            text = encrypt_key.apply(lambda k, h=host, p=on_host: serf.host_config(spec, h, k, p))
            files.append(HostFile(f"{name}-{host.name}-config", access, on_host.config,
                                  text, mode="0600", opts=after_dirs))
            HostService(f"{name}-{host.name}-agent", access, Daemon(
                name="serf", description="Serf agent (command and control)",
                command=["/usr/bin/serf", "agent", f"-config-file={on_host.config}"]),
                config=[*scripts.values(), serf.host_config(spec, host, "", on_host)],
                depends_on=files, opts=child)
            members.append(host.name)

        self.encrypt_key = encrypt_key
        self.join = pulumi.Output.from_input(serf.join_addresses(spec))
        self.members = pulumi.Output.from_input(members)
        self.handlers = pulumi.Output.from_input(
            [f"{kind}:{n}" for n, (kind, _) in sorted(serf.HANDLERS.items())])
        self.register_outputs({"encrypt_key": self.encrypt_key, "join": self.join,
                               "members": self.members, "handlers": self.handlers})
