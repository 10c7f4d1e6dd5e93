"""The one way dynamic providers reach a host: SSH + SFTP with the cloud's admin key (through
tools/ssh.py, the same client the `command` plugin uses), or the local machine when no
connection is given. Built inside each provider call (providers are pickled), closed after it.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
import subprocess
from typing import Optional

from tools import ssh
from tools.ssh import HostKeyMismatch  # noqa: F401 - part of this module's interface


class CommandFailed(RuntimeError):
    pass


class _Closing:
    """`with transport(conn) as t:` closes the connection however the block ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalTransport(_Closing):
    def write(self, path: str, text: str, mode: int = 0o644, owner: str = "") -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.mammatus-new"
        if os.path.exists(tmp):
            os.remove(tmp)
        # Made with its mode (and owner) before the first byte goes in.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as f:
            os.fchmod(f.fileno(), mode)
            if owner:
                self.run(f"chown {shlex.quote(owner)} {shlex.quote(tmp)}")
            f.write(text)
        os.replace(tmp, path)

    def read(self, path: str) -> Optional[str]:
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def upload(self, local_path: str, path: str, mode: int = 0o644) -> None:
        """Copies a local file to `path` (through a temporary name, created with `mode`)."""
        import shutil
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.mammatus-new"
        if os.path.exists(tmp):
            os.remove(tmp)
        # A new file, so `mode` holds from the first byte (an old file may have been wider).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as out, open(local_path, "rb") as src:
            os.fchmod(out.fileno(), mode)  # past the umask
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, path)

    def mode(self, path: str) -> Optional[int]:
        try:
            return stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            return None

    def owner(self, path: str) -> Optional[str]:
        """"user:group" of the file, by name."""
        try:
            return self.run(f"stat -c %U:%G {shlex.quote(path)}").strip()
        except CommandFailed:
            return None

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    def run(self, cmd: str) -> str:
        result = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
        if result.returncode != 0:
            raise CommandFailed(f"{cmd!r} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def close(self) -> None:
        pass


class SshTransport(_Closing):
    """SSH + SFTP to one host with the admin key, by Mammatus' one SSH client (tools/ssh.py:
    the host's key pinned when known, retries while it boots), on a connection this process
    keeps for the next call to the same host (ssh.POOL)."""

    def __init__(self, host: str, port: int, user: str, private_key: str,
                 host_key: Optional[str] = None):
        self._lease = ssh.POOL.acquire(host, port, user, private_key=private_key,
                                       host_key=host_key, attempts=10)
        self._sftp_client = None

    @property
    def _sftp(self):
        if self._sftp_client is None:
            self._sftp_client = ssh.with_channel(self._lease, lambda c: c.open_sftp())
        return self._sftp_client

    def write(self, path: str, text: str, mode: int = 0o644, owner: str = "") -> None:
        tmp = shlex.quote(f"{path}.mammatus-new")
        # An empty file with the mode (and owner) first; only then the content goes in.
        self.run(f"mkdir -p {shlex.quote(posixpath.dirname(path))} && rm -f {tmp} && "
                 f"(umask 077 && : > {tmp}) && chmod {mode:o} {tmp}"
                 + (f" && chown {shlex.quote(owner)} {tmp}" if owner else ""))
        with self._sftp.open(f"{path}.mammatus-new", "r+") as f:
            f.write(text)
        self._sftp.posix_rename(f"{path}.mammatus-new", path)

    def read(self, path: str) -> Optional[str]:
        try:
            with self._sftp.open(path, "r") as f:
                return f.read().decode()
        except FileNotFoundError:
            return None

    def upload(self, local_path: str, path: str, mode: int = 0o644) -> None:
        """Copies a local file to `path` over SFTP, the file made with `mode` before any byte."""
        self.run(f"mkdir -p {shlex.quote(posixpath.dirname(path))} && "
                 f"rm -f {shlex.quote(path)} && (umask 077 && : > {shlex.quote(path)}) && "
                 f"chmod {mode:o} {shlex.quote(path)}")
        with open(local_path, "rb") as src, self._sftp.open(path, "r+") as out:
            out.set_pipelined(True)
            while chunk := src.read(1 << 15):
                out.write(chunk)

    def mode(self, path: str) -> Optional[int]:
        try:
            return stat.S_IMODE(self._sftp.stat(path).st_mode)
        except FileNotFoundError:
            return None

    def owner(self, path: str) -> Optional[str]:
        """"user:group" of the file, by name."""
        try:
            return self.run(f"stat -c %U:%G {shlex.quote(path)}").strip()
        except CommandFailed:
            return None

    def remove(self, path: str) -> None:
        try:
            self._sftp.remove(path)
        except FileNotFoundError:
            pass

    def run(self, cmd: str) -> str:
        _, stdout, stderr = ssh.with_channel(self._lease, lambda c: c.exec_command(cmd))
        try:
            status = stdout.channel.recv_exit_status()
            if status != 0:
                raise CommandFailed(f"{cmd!r} failed ({status}): {stderr.read().decode().strip()}")
            return stdout.read().decode()
        finally:
            stdout.channel.close()   # the connection is shared: its sessions are few (MaxSessions)

    def close(self) -> None:
        if self._sftp_client is not None:
            self._sftp_client.close()
        self._lease.release()


def transport(connection: Optional[dict]):
    """SSH to connection {host, port, user, private_key[, host_key]}; the local machine when
    None."""
    if not connection:
        return LocalTransport()
    return SshTransport(connection["host"], int(connection.get("port", 22)),
                        connection.get("user", "root"), connection["private_key"],
                        connection.get("host_key"))
