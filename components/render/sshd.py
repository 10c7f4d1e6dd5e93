"""sshd_config for every host: keys only, no passwords (seed design: SSH keys for all
authentication), modern key exchange, ciphers and MACs. Pure; validated by the real `sshd -t -f`.

The cloud's admin public key lives in a root-owned file per user in `authorized_keys_dir`
(`AuthorizedKeysFile <dir>/%u .ssh/authorized_keys`), so Mammatus owns its file and never
rewrites a user's own ~/.ssh/authorized_keys.
"""

from __future__ import annotations

import posixpath
from typing import Sequence

KEX = ("sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
       "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
       "diffie-hellman-group-exchange-sha256")
CIPHERS = ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
           "aes256-ctr", "aes192-ctr", "aes128-ctr")
MACS = ("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
        "umac-128-etm@openssh.com", "hmac-sha2-512", "hmac-sha2-256")
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")
AUTHORIZED_KEYS_DIR = "/etc/ssh/authorized_keys.d"


def host_key_paths(etc_ssh: str = "/etc/ssh") -> list[str]:
    return [posixpath.join(etc_ssh, f"ssh_host_{kind}_key") for kind in HOST_KEY_TYPES]


def authorized_keys_path(user: str, authorized_keys_dir: str = AUTHORIZED_KEYS_DIR) -> str:
    return posixpath.join(authorized_keys_dir, user)


def render(*, port: int = 22, listen_addresses: Sequence[str] = (),
           authorized_keys_dir: str = AUTHORIZED_KEYS_DIR,
           host_keys: Sequence[str] = tuple(host_key_paths()), pid_file: str = "/run/sshd.pid",
           use_pam: bool = True, strict_modes: bool = True) -> str:
    lines = [
        "# Mammatus sshd_config (generated; do not edit): SSH keys only, no passwords.",
        f"Port {port}",
        *(f"ListenAddress {a}" for a in listen_addresses),
        *(f"HostKey {k}" for k in host_keys),
        f"PidFile {pid_file}",
        "",
        "# Authentication",
        "PubkeyAuthentication yes",
        f"AuthorizedKeysFile {authorized_keys_dir}/%u .ssh/authorized_keys",
        "PasswordAuthentication no",
        "PermitEmptyPasswords no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "PermitRootLogin prohibit-password",
        "AuthenticationMethods publickey",
        f"StrictModes {'yes' if strict_modes else 'no'}",
        "MaxAuthTries 4",
        "LoginGraceTime 30",
        f"UsePAM {'yes' if use_pam else 'no'}",
        "",
        "# Algorithms",
        "KexAlgorithms " + ",".join(KEX),
        "Ciphers " + ",".join(CIPHERS),
        "MACs " + ",".join(MACS),
        "",
        "# Session",
        "X11Forwarding no",
        "AllowAgentForwarding no",
        "PrintMotd no",
        "ClientAliveInterval 60",
        "ClientAliveCountMax 3",
        "AcceptEnv LANG LC_*",
        "Subsystem sftp internal-sftp",
    ]
    return "\n".join(lines) + "\n"
