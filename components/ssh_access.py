"""mammatus:access:SshAccess — SSH keys for all authentication, no passwords (seed design).

On every host: the cloud's admin public key (Foundation's pulumi-tls key) in a Mammatus-owned
authorized-keys file for the host's SSH user, and an sshd_config with passwords off
(components/render/sshd.py). The config is staged, checked on the host with `sshd -t -f`, only
then installed, and sshd reloaded, so a bad config can never lock the cloud out."""

from __future__ import annotations

import shlex
from typing import Optional

import pulumi
import pulumi_command as command

from components.context import CloudContext
from components.host import HostAccess, HostFile
from components.render import sshd
from components.service_manager import digest

STAGED_CONFIG = "/etc/mammatus/ssh/sshd_config"
LIVE_CONFIG = "/etc/ssh/sshd_config"
PID_FILE = "/run/sshd.pid"


def host_config(access: HostAccess) -> str:
    """The sshd_config of one host."""
    return sshd.render(
        port=access.host.ssh_port,
        authorized_keys_dir=sshd.AUTHORIZED_KEYS_DIR,
        host_keys=list(sshd.host_key_paths()),
        pid_file=PID_FILE)


def reload_command(access: HostAccess, text: str) -> str:
    """Generates missing host keys, checks the staged config, installs it and reloads sshd."""
    staged, live = shlex.quote(STAGED_CONFIG), shlex.quote(LIVE_CONFIG)
    reload = "systemctl reload ssh.service 2>/dev/null || systemctl reload sshd.service"
    return (f"# sshd_config {digest(text)}\n"
            f"mkdir -p /etc/ssh && ssh-keygen -A && "
            f"sshd -t -f {staged} && install -m 0644 {staged} {live} && {reload}")


def _retain_on_delete(args: pulumi.ResourceTransformationArgs):
    return pulumi.ResourceTransformationResult(
        args.props, pulumi.ResourceOptions.merge(args.opts,
                                                 pulumi.ResourceOptions(retain_on_delete=True)))


class SshAccess(pulumi.ComponentResource):
    hosts: pulumi.Output[list]
    authorized_keys_files: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:access:SshAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The key file outlives a destroy: removing it first would lock the program out of the
        # hosts for every other layer's delete commands.
        keep = pulumi.ResourceOptions(parent=self, transformations=[_retain_on_delete])
        key_files = {}
        for access in ctx.accesses():
            host = access.host.name
            keys = HostFile(f"{name}-{host}-authorized-keys", access,
                            sshd.authorized_keys_path(access.host.ssh_user),
                            pulumi.Output.from_input(
                                ctx.admin_public_key).apply(lambda key: key.strip() + "\n"),
                            opts=keep)
            key_files[host] = keys.path
            text = host_config(access)
            staged = HostFile(f"{name}-{host}-sshd-config", access, STAGED_CONFIG,
                              text,
                              mode="0600", opts=child)
            command.remote.Command(
                f"{name}-{host}-sshd-reload", connection=access.connection(),
                create=reload_command(access, text),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[keys, staged]))
        self.hosts = pulumi.Output.from_input([a.host.name for a in ctx.accesses()])
        self.authorized_keys_files = pulumi.Output.all(**key_files) if key_files else \
            pulumi.Output.from_input({})
        self.register_outputs({"hosts": self.hosts,
                               "authorized_keys_files": self.authorized_keys_files})
