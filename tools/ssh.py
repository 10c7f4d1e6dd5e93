"""Mammatus' one SSH client (paramiko): how every file and command reaches a host, whether it
goes through the `command` provider plugin (tools/providers/command.py) or a Python dynamic
provider (dynamic_providers/transport.py).

- keys: any OpenSSH or PEM private key (ed25519, ECDSA, RSA), optionally with a passphrase;
- host keys: with the host's key given ("type base64 [comment]", the spec's `hostKey` or the
  dev stack's own) any other is refused with both OpenSSH SHA256 fingerprints in the error;
  without it the key is accepted, as plain pulumi-command does;
- retries: a failed dial is retried (a host still booting, its key not yet in place); a wrong
  host key or an unreadable private key is not;
- an optional jump host (`proxy`, pulumi-command's connection.proxy);
- reuse (`Pool`, `leased`): a process that reaches the same host many times (the provider
  plugins: hundreds of files and commands in one `up`) keeps its authenticated connections and
  opens channels on them, instead of a key exchange and a new sshd process for each.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional


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


# Leases at once on one pooled connection. Each lease may hold an exec and an SFTP channel, and
# OpenSSH allows 10 sessions per connection (MaxSessions).
LEASES_PER_CONNECTION = 4
KEEPALIVE_SECONDS = 15


class _Pooled:
    def __init__(self, client):
        self.client, self.leases = client, 0

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def close(self) -> None:
        self.client.close()
        jump = getattr(self.client, "_mammatus_jump", None)
        if jump is not None:
            jump.close()


class Pool:
    """Authenticated connections kept for reuse, per destination and credentials. A connection
    whose peer went away (the host rebooted, or was replaced at the same address) is dropped
    and a new one dialled; `Lease.redial` is for a channel that failed to open on one that
    still looked alive."""

    def __init__(self, dial: Callable = None):
        self._dial = dial or connect
        self._lock = threading.Lock()
        self._idle: dict[str, list[_Pooled]] = {}

    @staticmethod
    def key(host: str, port: int, user: str, options: dict) -> str:
        return hashlib.sha256(json.dumps([host, int(port), user, options], sort_keys=True,
                                         default=str).encode()).hexdigest()

    def _take(self, key: str) -> Optional[_Pooled]:
        with self._lock:
            kept = self._idle.setdefault(key, [])
            for dead in [p for p in kept if not p.alive()]:
                kept.remove(dead)
                dead.close()
            for pooled in kept:
                if pooled.leases < LEASES_PER_CONNECTION:
                    pooled.leases += 1
                    return pooled
        return None

    def _add(self, key: str, client) -> _Pooled:
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_SECONDS)
        pooled = _Pooled(client)
        pooled.leases = 1
        with self._lock:
            self._idle.setdefault(key, []).append(pooled)
        return pooled

    def acquire(self, host: str, port: int = 22, user: str = "root", **options) -> "Lease":
        key = self.key(host, port, user, options)
        pooled = self._take(key) or self._add(key, self._dial(host, port, user, **options))
        return Lease(self, key, pooled, lambda: self._dial(host, port, user, **options))

    def _release(self, key: str, pooled: _Pooled) -> None:
        with self._lock:
            pooled.leases -= 1

    def _drop(self, key: str, pooled: _Pooled) -> None:
        with self._lock:
            kept = self._idle.get(key, [])
            if pooled in kept:
                kept.remove(pooled)
        pooled.close()

    def close(self) -> None:
        with self._lock:
            kept, self._idle = self._idle, {}
        for pooled in (p for ps in kept.values() for p in ps):
            pooled.close()


class Lease:
    """One user's share of a pooled connection: `client` until `release`."""

    def __init__(self, pool: Pool, key: str, pooled: _Pooled, dial: Callable):
        self._pool, self._key, self._pooled, self._dial = pool, key, pooled, dial

    @property
    def client(self):
        return self._pooled.client

    def redial(self):
        """A fresh connection for this lease (a channel would not open on the kept one). The
        kept one stays for its other users while it lives (it may only be full); a dead one is
        closed."""
        old = self._pooled
        self._pool._release(self._key, old)
        if not old.alive():
            self._pool._drop(self._key, old)
        self._pooled = self._pool._add(self._key, self._dial())
        return self._pooled.client

    def release(self) -> None:
        if self._pooled is not None:
            self._pool._release(self._key, self._pooled)
            self._pooled = None


POOL = Pool()


@contextmanager
def leased(host: str, port: int = 22, user: str = "root", **options) -> Iterator[Lease]:
    """A connection of this process's pool (connect()'s arguments), for the block's length."""
    lease = POOL.acquire(host, port, user, **options)
    try:
        yield lease
    finally:
        lease.release()


def with_channel(lease: Lease, open_channel: Callable):
    """open_channel(client) on the leased connection; once more on a new connection when the
    kept one is gone (nothing ran on it: the channel never opened)."""
    import paramiko
    try:
        return open_channel(lease.client)
    except (paramiko.SSHException, EOFError, OSError):
        return open_channel(lease.redial())
