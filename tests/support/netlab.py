"""Helpers for tests of the network layers: stack specs from the example stacks, and network
namespaces the tests create (and always delete) so real iptables/dnsmasq/sshd never touch the
machine's own network."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import yaml

from stacks.load import parse_spec
from stacks.spec import StackSpec

ROOT = Path(__file__).resolve().parents[2]


def stack_spec(stack: str) -> StackSpec:
    """The spec of an example stack (Pulumi.<stack>.yaml), as `preview` would load it."""
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return parse_spec({key.split(":", 1)[1]: value for key, value in config.items()})


def run(*argv: str, netns: str | None = None, check: bool = True, **kwargs
        ) -> subprocess.CompletedProcess:
    if netns is not None:
        argv = ("ip", "netns", "exec", netns, *argv)
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


@contextlib.contextmanager
def netns(prefix: str = "mmt") -> Iterator[str]:
    """A fresh network namespace (loopback up), deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "link", "set", "lo", "up", netns=name)
        yield name
    finally:
        run("ip", "netns", "del", name, check=False)


def veth(ns_a: str, if_a: str, addr_a: str, ns_b: str, if_b: str, addr_b: str) -> None:
    """A veth pair between two namespaces, each end with an address (CIDR) and up."""
    tmp_a, tmp_b = f"v{uuid.uuid4().hex[:8]}", f"v{uuid.uuid4().hex[:8]}"
    run("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
    run("ip", "link", "set", tmp_a, "netns", ns_a)
    run("ip", "link", "set", tmp_b, "netns", ns_b)
    for ns, tmp, name, addr in ((ns_a, tmp_a, if_a, addr_a), (ns_b, tmp_b, if_b, addr_b)):
        run("ip", "link", "set", tmp, "name", name, netns=ns)
        if addr:
            run("ip", "addr", "add", addr, "dev", name, netns=ns)
        run("ip", "link", "set", name, "up", netns=ns)
