"""A real host's SSH host key, pinned on first use.

A host whose spec gives no `hostKey` is asked for its key once, when this resource is created;
the key is kept in the stack's state and every later connection insists on it (tools/ssh.py
refuses another key, naming both fingerprints). So a LAN device that takes the host's address
later cannot collect what `up` pushes. Neither `refresh` nor `up` asks again: a host that was
reinstalled on purpose gets its new key by `hostKey` in the spec, or by replacing this resource
(`bin/pulumi up --replace <its URN>`), both deliberate acts.
"""

from __future__ import annotations

import socket
from typing import Optional

import pulumi
from pulumi.dynamic import CreateResult, ReadResult

from dynamic_providers.base import MammatusProvider


def scan_host_key(host: str, port: int, timeout: float = 20.0, attempts: int = 30) -> str:
    """The host key ("type base64") the SSH server at host:port offers, as paramiko, the client
    every later connection uses, negotiates it (so the same key type is pinned and checked)."""
    import paramiko

    from tools.ssh import with_retries

    def once() -> str:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            t = paramiko.Transport(sock)
            try:
                t.start_client(timeout=timeout)
                key = t.get_remote_server_key()
                return f"{key.get_name()} {key.get_base64()}"
            finally:
                t.close()
    return with_retries(f"Scan the host key of {host}:{port}", attempts, once)


class HostKeyPinProvider(MammatusProvider):
    immutable = ("host", "port")
    outputs = ("key",)

    def create(self, props):
        key = scan_host_key(props["host"], int(props["port"]))
        return CreateResult(id_=f"{props['host']}:{props['port']}", outs={**props, "key": key})

    def read(self, id_, props):
        return ReadResult(id_, props)  # the pinned key is the record: never asked again


class HostKeyPin(pulumi.dynamic.Resource, module="host", name="HostKeyPin"):
    key: pulumi.Output[str]

    def __init__(self, name: str, host: str, port: int = 22,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(HostKeyPinProvider(), name, {"host": host, "port": port, "key": None},
                         opts)
