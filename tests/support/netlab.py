"""Helpers for tests of the network layers: stack specs from the example stacks, and network
namespaces the tests create (and always delete) so real iptables/dnsmasq/sshd never touch the
machine's own network."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from typing import Iterator


from stacks.load import load_stack_file
from stacks.spec import StackSpec
from tests.support.paths import ROOT



def stack_spec(stack: str) -> StackSpec:
    """The spec of an example stack (Pulumi.<stack>.yaml), as `preview` would load it."""
    return load_stack_file(ROOT / f"Pulumi.{stack}.yaml")


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


# udhcpc's event script for a test "machine" in a namespace: the address, then the classless
# static routes of option 121 (which replace the router, RFC 3442) or the router; the leased
# address goes to $LEASED_IP_FILE.
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$1" = 0.0.0.0/0 ]; then ip route add default via "$2"; else ip route add "$1" via "$2"; fi
        shift 2
      done
    elif [ -n "$router" ]; then
      ip route add default via "${router%% *}" dev "$interface"
    fi
    echo "$ip" > "$LEASED_IP_FILE" ;;
esac
exit 0
"""


def dhcp_lease(netns: str, workdir, interface: str = "eth0") -> str:
    """One DHCP lease for a namespace by udhcpc (asking for option 121 too); its address."""
    import os
    from pathlib import Path

    script = Path(workdir) / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    out = Path(workdir) / f"{netns}.ip"
    subprocess.run(["ip", "netns", "exec", netns, "udhcpc", "-i", interface, "-n", "-q", "-f",
                    "-t", "10", "-O", "staticroutes", "-s", str(script)], check=True,
                   capture_output=True, text=True, timeout=60,
                   env=dict(os.environ, LEASED_IP_FILE=str(out)))
    return out.read_text().strip()


def registered(build):
    """Runs `build()` (which creates components) under fresh RecordingMocks and returns
    (mocks, whatever build returned) once every resource has been registered."""
    import pulumi

    from tests.support.pulumi_mocks import RecordingMocks

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mammatus", stack="test", preview=False)
    built = {}

    @pulumi.runtime.test
    def run_build():
        built["value"] = build()

    run_build()
    return mocks, built["value"]


def context(spec: StackSpec, **fields):
    """A CloudContext for unit tests: fixed admin keys, the given fields (hosts_ready …)."""
    import pulumi

    from components.context import CloudContext

    return CloudContext(spec=spec, admin_private_key=pulumi.Output.secret("PRIVATE-KEY"),
                        admin_public_key="ssh-ed25519 AAAAtest admin", **fields)


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value in mocks


def plain(value):
    """A mock input with its secret wrappers removed (e.g. a connection holding the key)."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


GARP = """
import socket, sys
interface, ip, mac = sys.argv[1:]
hw, addr = bytes.fromhex(mac.replace(":", "")), socket.inet_aton(ip)
# To the Ethernet broadcast: an ARP request (Ethernet/IPv4) whose sender and target IP are `ip`.
frame = (bytes.fromhex("ffffffffffff") + hw + bytes.fromhex("0806" "0001080006040001")
         + hw + addr + bytes(6) + addr)
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
    s.bind((interface, 0))
    s.send(frame.ljust(60, bytes(1)))
"""


def gratuitous_arp(ns: str, interface: str, ip: str, mac: str) -> None:
    """Announces "`ip` is at `mac`" to the whole link, as `arping -U` does (raw AF_PACKET)."""
    run("ip", "netns", "exec", ns, sys.executable, "-c", GARP, interface, ip, mac)
