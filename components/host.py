"""Reaching a host: files and daemons over SSH with the cloud's admin key.

Every component that configures a machine goes through `HostFile` and `HostService`: files
written over SSH, daemons as systemd units (components/service_manager.py), the same on the dev
stack's hosts (LXD system containers) as on real machines.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_command as command

from components.service_manager import Daemon, digest, lifecycle
from dynamic_providers.host_key import HostKeyPin
from dynamic_providers.remote_file import RemoteFile
from stacks.spec import Host


@dataclass(frozen=True)
class HostAccess:
    """How to reach one host: its spec plus the admin private key (a secret Output).

    `ready` are resources that must exist before the host answers SSH (the dev stack's
    containers), then its packages; every command over this connection waits for them."""
    host: Host
    private_key: pulumi.Input[str]
    ready: tuple = ()
    # The host's public host key to insist on (spec `hostKey`, or the dev stack's own); None
    # accepts any key, as plain pulumi-command does.
    host_key: Optional[pulumi.Input[str]] = None

    def connection(self) -> command.remote.ConnectionArgs:
        address: pulumi.Input[str] = str(self.host.address)
        if self.ready:
            address = pulumi.Output.all(*[r.urn for r in self.ready]).apply(
                lambda _: str(self.host.address))
        return command.remote.ConnectionArgs(
            host=address, port=self.host.ssh_port, user=self.host.ssh_user,
            private_key=self.private_key, dial_error_limit=10, host_key=self.host_key)

    def connection_dict(self) -> dict:
        """The same connection for dynamic providers (dynamic_providers/transport.py)."""
        args = self.connection()
        conn = {"host": args.host, "port": self.host.ssh_port, "user": self.host.ssh_user,
                "private_key": self.private_key}
        if self.host_key is not None:
            conn["host_key"] = self.host_key
        return conn


def pinned_host_keys(name: str, hosts: Sequence[Host], parent: pulumi.Resource
                     ) -> dict[str, pulumi.Output[str]]:
    """Real hosts without a `hostKey` in the spec: each one's key, asked for once and kept in
    the stack's state (trust on first use; dynamic_providers/host_key.py)."""
    return {h.name: HostKeyPin(f"{name}-{h.name}", str(h.address), h.ssh_port,
                               opts=pulumi.ResourceOptions(parent=parent)).key
            for h in hosts if not h.host_key}


class HostFile(pulumi.ComponentResource):
    """A file with exact content and mode on a host. Read back on refresh, so a hand edit is
    seen and the next `up` repairs it (dynamic_providers/remote_file.py)."""
    path: pulumi.Output[str]

    def __init__(self, name: str, access: HostAccess, path: str, content: pulumi.Input[str],
                 mode: str = "0644", secret: bool = False, owner: str = "",
                 opts: Optional[pulumi.ResourceOptions] = None):
        """owner: "user:group" when the file belongs to a daemon's own user (root's if empty)."""
        super().__init__("mammatus:host:File", name, None, opts)
        self._file = RemoteFile(f"{name}-write", access.connection_dict(), path, content,
                                mode=mode, secret=secret, owner=owner,
                                opts=pulumi.ResourceOptions(parent=self))
        # Known once the file is written, so whatever reads `path` waits for the write.
        self.path = self._file.path
        # What a daemon reading this file restarts on (HostService). A digest of a secret's
        # content is not secret: the secrets written here are generated keys and passwords,
        # too long to guess from a 64-bit digest, so unit texts stay readable in diffs.
        self.content_digest: pulumi.Output[str] = pulumi.Output.unsecret(
            pulumi.Output.from_input(content).apply(lambda text: digest(text or "")))
        self.register_outputs({"path": self.path})


class HostService(pulumi.ComponentResource):
    """A daemon kept running on a host by its service manager; restarted when a file it
    depends on (a HostFile in `depends_on`) or a text in `config` (its flags, its binary's
    digest) changes."""
    unit: pulumi.Output[str]

    def __init__(self, name: str, access: HostAccess, daemon: Daemon,
                 config: Sequence[str] = (), depends_on: Sequence[pulumi.Resource] = (),
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:host:Service", name, None, opts)
        files = [d for d in depends_on if isinstance(d, HostFile)]

        def texts(file_digests) -> tuple[str, str, str]:
            return lifecycle(Daemon(**{**daemon.__dict__,
                                       "config_digest": digest(*config, *file_digests)}))
        if files:
            lifecycle_texts = pulumi.Output.all(*[f.content_digest for f in files]).apply(texts)
            create, update, delete = (lifecycle_texts.apply(lambda t, i=i: t[i]) for i in range(3))
        else:
            create, update, delete = texts(())
        self._command = command.remote.Command(
            f"{name}-run", connection=access.connection(), create=create, update=update,
            delete=delete,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)))
        self.unit = self._command.id.apply(lambda _: f"mammatus-{daemon.name}")
        self.register_outputs({"unit": self.unit})


def service_user(name: str, access: HostAccess, user: str,
                 parent: pulumi.Resource) -> command.remote.Command:
    """A daemon's own system user and group (no login, no home), made once; files it must read
    are then written with owner=f"{user}:{user}" (HostFile) after this."""
    u = shlex.quote(user)
    return command.remote.Command(
        name, connection=access.connection(),
        create=(f"getent passwd {u} >/dev/null || useradd --system --user-group "
                f"--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin {u}"),
        delete=f"userdel {u} 2>/dev/null || true",
        opts=pulumi.ResourceOptions(parent=parent))


def owned_by(user: str) -> str:
    return f"{user}:{user}"


def host_dirs(name: str, access: HostAccess, dirs, parent: pulumi.Resource) -> command.remote.Command:
    """Directories a layer's files and daemons need on a host (created once, sorted so the
    command text is stable)."""
    return command.remote.Command(
        name, connection=access.connection(),
        create="mkdir -p " + " ".join(shlex.quote(d) for d in sorted(set(dirs))),
        opts=pulumi.ResourceOptions(parent=parent))


def parent_dirs(*paths: str) -> list[str]:
    """The directories holding these files."""
    return [posixpath.dirname(p) for p in paths]
