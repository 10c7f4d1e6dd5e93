"""Mammatus' one SSH client (paramiko): how every file and command reaches a host, whether it
goes through the `command` provider plugin (tools/providers/command.py) or a Python dynamic
provider (dynamic_providers/transport.py).

- keys: any OpenSSH or PEM private key (ed25519, ECDSA, RSA), optionally with a passphrase;
- host keys: with the host's key given ("type base64 [comment]", the spec's `hostKey` or the
  dev stack's own) any other is refused with both OpenSSH SHA256 fingerprints in the error;
  without it the key is accepted, as plain pulumi-command does;
- retries: a failed dial is retried (a host still booting, its key not yet in place); a wrong
  host key or an unreadable private key is not;
- an optional jump host (`proxy`, pulumi-command's connection.proxy).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
from typing import Callable, Optional


class SshError(RuntimeError):
    """A connection that retrying cannot mend (an unreadable key, a wrong host key), or the
    last of the retries."""


class HostKeyMismatch(SshError):
    pass


def fingerprint(blob: str) -> str:
    """OpenSSH's SHA256 fingerprint of a base64 public key blob."""
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def load_key(text: str, password: Optional[str] = None):
    """A paramiko key from an OpenSSH or PEM private key text."""
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    data = text.encode()
    pw = password.encode() if password else None
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=pw)
        else:
            key = serialization.load_pem_private_key(data, password=pw)
    except Exception as exc:  # noqa: BLE001 - cryptography raises several kinds
        raise SshError(f"failed to parse the connection's private key: {exc}") from None
    # paramiko reads OpenSSH-format keys of every type; convert to that.
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption()).decode()
    for base, cls in ((rsa.RSAPrivateKey, paramiko.RSAKey),
                      (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
                      (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key)):
        if isinstance(key, base):
            return cls.from_private_key(io.StringIO(pem))
    raise SshError(f"unsupported private key type {type(key).__name__}")


def pinned_host_key(expected: str):
    """A paramiko policy that accepts only `expected` ("type base64 [comment]")."""
    import paramiko

    parts = expected.split()
    if len(parts) < 2:
        raise SshError("failed to parse host key: expected 'type base64'")
    kind, blob = parts[:2]

    class Pinned(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key):
            if key.get_name() != kind or key.get_base64() != blob:
                raise HostKeyMismatch(
                    f"ssh: host key mismatch for {hostname}: it offers {key.get_name()} "
                    f"{fingerprint(key.get_base64())}, the cloud expects {kind} {fingerprint(blob)}")
    return Pinned()


def connect_once(host: str, port: int = 22, user: str = "root", *, private_key: str = "",
                 key_password: Optional[str] = None, password: Optional[str] = None,
                 host_key: Optional[str] = None, agent_socket: Optional[str] = None,
                 timeout: Optional[float] = 20, sock=None):
    """One authenticated paramiko SSHClient, or an exception."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(pinned_host_key(host_key) if host_key
                                       else paramiko.AutoAddPolicy())
    pkey = load_key(private_key, key_password) if private_key else None
    old_sock = os.environ.get("SSH_AUTH_SOCK")
    try:
        if agent_socket:
            os.environ["SSH_AUTH_SOCK"] = agent_socket
        client.connect(host, port=int(port or 22), username=user or "root", pkey=pkey,
                       password=password, allow_agent=bool(agent_socket), look_for_keys=False,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, sock=sock)
    except BaseException:
        client.close()
        raise
    finally:
        if agent_socket:
            if old_sock is None:
                os.environ.pop("SSH_AUTH_SOCK", None)
            else:
                os.environ["SSH_AUTH_SOCK"] = old_sock
    return client


def with_retries(what: str, limit: int, fn: Callable, sleep=time.sleep):
    """fn() until it works: `limit` attempts (-1: forever); SshError is never retried."""
    attempt = 0
    while True:
        try:
            return fn()
        except SshError:
            raise
        except Exception as exc:  # noqa: BLE001 - refused, reset, timed out: the host may be booting
            attempt += 1
            if limit != -1 and attempt >= max(limit, 1):
                raise SshError(f"{what}: after {attempt} failed attempts: {exc}") from None
            sleep(min(0.5 * attempt, 5.0))


def connect(host: str, port: int = 22, user: str = "root", *, attempts: int = 10,
            proxy: Optional[dict] = None, **options):
    """An SSHClient after up to `attempts` dials; through `proxy` (connect()'s keyword
    arguments of the jump host, plus its own `attempts`) when given."""
    if not proxy:
        return with_retries(f"Dial {host}:{port}", attempts,
                            lambda: connect_once(host, port, user, **options))
    jump_options = dict(proxy)
    jump_attempts = int(jump_options.pop("attempts", 10))
    jump_host = jump_options.pop("host")
    jump_port = int(jump_options.pop("port", 22))
    jump_user = jump_options.pop("user", "root")
    jump = with_retries(f"Dial proxy {jump_host}:{jump_port}", jump_attempts,
                        lambda: connect_once(jump_host, jump_port, jump_user, **jump_options))
    channel = with_retries(f"Dial {host}:{port} from proxy", attempts,
                           lambda: jump.get_transport().open_channel(
                               "direct-tcpip", (host, int(port)), ("127.0.0.1", 0)))
    client = connect_once(host, port, user, sock=channel, **options)
    client._mammatus_jump = jump  # keep the proxy connection alive with the client
    return client
