"""A private OpenSSH server on 127.0.0.1:<free port> for tests (Debian's openssh-server), with a
temporary host key and one authorized public key; stopped by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from tests.support.daemons import free_port

SSHD = "/usr/sbin/sshd"


@contextmanager
def running_sshd(d: Path, authorized_key: str) -> Iterator[dict]:
    if not os.path.exists(SSHD):
        pytest.fail("openssh-server is missing: run tools/setup/system.sh as root")
    if os.geteuid() != 0:
        pytest.fail("the sshd tests run as root (sshd needs it to switch to the login user)")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")],
                   check=True)
    (d / "authorized_keys").write_text(authorized_key)
    port = free_port()
    (d / "sshd_config").write_text(f"""
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
Subsystem sftp internal-sftp
LogLevel ERROR
""")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config"), "-p", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):  # readiness: until the port answers (not a timing assertion)
            if proc.poll() is not None:
                pytest.fail(f"sshd exited: {proc.stdout.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("sshd did not come up")
        yield {"port": port, "host_key": (d / "host_key.pub").read_text().strip(), "dir": d}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def sshd_connection(d: Path) -> Iterator[dict]:
    """A running sshd and the connection dict the providers take (a fresh admin key, the
    server's host key pinned)."""
    from tools.providers import tls

    key = tls.key_outputs(tls.generate_key("ED25519"))
    with running_sshd(d, key["publicKeyOpenssh"]) as server:
        yield {"host": "127.0.0.1", "port": server["port"], "user": "root",
               "private_key": key["privateKeyOpenssh"], "host_key": server["host_key"]}
