"""What every layer of a cloud stands on: its admin identity, a generated secret and local state."""

from __future__ import annotations

import shlex

import pulumi
import pulumi_command as command
import pulumi_random as random
import pulumi_tls as tls

from dynamic_providers.local_dir import LocalDirectory
from stacks.spec import StackSpec


class Foundation(pulumi.ComponentResource):
    admin_public_key: pulumi.Output[str]
    admin_private_key: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    run_dir: pulumi.Output[str]
    admin_public_key_file: pulumi.Output[str]

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mammatus:core:Foundation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The key every host's authorized_keys trusts (SSH keys only, no passwords: seed design).
        ssh_key = tls.PrivateKey(f"{name}-admin-ssh", algorithm="ED25519", opts=child)
        # For the web consoles that insist on a password (MinIO's): generated, never typed.
        password = random.RandomPassword(f"{name}-admin-password", length=24, special=False,
                                         opts=child)
        # 0711: others may pass through but not list it; the dev stack's LXD keeps containers
        # below it, and their unprivileged root must traverse every parent directory.
        run_dir = LocalDirectory(f"{name}-run-dir", path=spec.run_dir, mode="0711", opts=child)

        key_file = f"{spec.run_dir}/admin_ed25519.pub"
        publish = command.local.Command(
            f"{name}-admin-public-key",
            create=f"umask 022 && cat > {shlex.quote(key_file)}",
            delete=f"rm -f {shlex.quote(key_file)}",
            stdin=ssh_key.public_key_openssh,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[run_dir]))

        self.admin_public_key = ssh_key.public_key_openssh
        self.admin_private_key = pulumi.Output.secret(ssh_key.private_key_openssh)
        self.admin_password = pulumi.Output.secret(password.result)
        self.run_dir = run_dir.path
        self.admin_public_key_file = publish.id.apply(lambda _: key_file)
        self.register_outputs({
            "admin_public_key": self.admin_public_key,
            "admin_password": self.admin_password,
            "run_dir": self.run_dir,
            "admin_public_key_file": self.admin_public_key_file,
        })
