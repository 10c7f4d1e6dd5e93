"""Who is asking: the request's source IP, proven against the cloud's own records.

Chain: source IP -> active DHCP lease (dnsmasq) -> MAC -> exactly one instance (inventory / LXD)
whose NIC has that MAC. Every link must be unambiguous; anything else is refused, never guessed.
Optionally (service on the instances' L2) the kernel's ARP entry for the IP must show that MAC.
Headers are never trusted for identity, except X-Forwarded-For from a configured proxy that signs
it (HMAC), which is how OpenStack fixed CVE-2013-6419.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Iterable, Optional

from .inventory import Instance
from .leases import Lease


@dataclass(frozen=True)
class Identity:
    instance: Instance
    ip: str
    mac: str


class Unproven(Exception):
    """The request's identity cannot be proven; the message says why (safe to show the caller)."""


def resolve(ip: str, leases: Iterable[Lease], instances: Iterable[Instance],
            now: float) -> Identity:
    macs = {lease.mac for lease in leases if lease.ip == ip and lease.active(now)}
    if not macs:
        raise Unproven(f"no active DHCP lease for {ip}")
    if len(macs) > 1:
        raise Unproven(f"{ip} is leased to several MACs")
    (mac,) = macs
    owners = [i for i in instances if mac in i.macs]
    if not owners:
        raise Unproven(f"no instance owns the MAC leased to {ip}")
    if len({o.name for o in owners}) > 1:
        raise Unproven(f"the MAC leased to {ip} belongs to several instances")
    return Identity(owners[0], ip, mac)


def parse_arp(text: str) -> dict[str, str]:
    """/proc/net/arp -> {ip: mac} for complete entries (flag 0x2: ATF_COM)."""
    table = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and int(parts[2], 16) & 0x2 and parts[3] != "00:00:00:00:00:00":
            table[parts[0]] = parts[3].lower()
    return table


class NeighbourTable:
    """The kernel's view of which MAC the source IP answers ARP from, read per request. Only
    meaningful when the service shares the instances' L2 (it refuses routed peers)."""

    def __init__(self, path: str = "/proc/net/arp"):
        self.path = path

    def mac_of(self, ip: str) -> Optional[str]:
        with open(self.path) as f:
            return parse_arp(f.read()).get(ip)


def check_neighbour(ident: Identity, observed: Optional[str]) -> Identity:
    if observed is None:
        raise Unproven(f"no neighbour entry for {ident.ip} (not on this L2?)")
    if observed != ident.mac:
        raise Unproven(f"{ident.ip} answers from a MAC other than the leased one")
    return ident


def forward_signature(secret: bytes, ip: str) -> str:
    return hmac.new(secret, ip.encode(), hashlib.sha256).hexdigest()


def source_address(peer: str, headers, proxies: dict[str, bytes]) -> str:
    """The address whose identity is proven: the peer, or a proxy's signed X-Forwarded-For."""
    forwarded = headers.get("X-Forwarded-For")
    secret = proxies.get(peer)
    if secret is None or forwarded is None:
        return peer  # X-Forwarded-For from anyone else is ignored: it cannot be checked
    ip = forwarded.split(",")[-1].strip()
    signature = headers.get("X-Mammatus-Forwarded-Signature", "")
    if not hmac.compare_digest(signature.encode(), forward_signature(secret, ip).encode()):
        raise Unproven("forwarded request with a missing or bad signature")
    return ip


class Resolver:
    """Combines the configured sources; sources re-read themselves when they change."""

    def __init__(self, lease_sources, inventory_sources, clock=time.time, neighbours=None):
        self.lease_sources = list(lease_sources)
        self.inventory_sources = list(inventory_sources)
        self._clock = clock
        self.neighbours = neighbours

    def leases(self) -> list[Lease]:
        return [lease for src in self.lease_sources for lease in src.get()]

    def instances(self, force: bool = False) -> list[Instance]:
        return [i for src in self.inventory_sources for i in src.get(force=force)]

    def resolve(self, ip: str) -> Identity:
        leases = self.leases()
        try:
            ident = resolve(ip, leases, self.instances(), self._clock())
        except Unproven as exc:
            if "no instance owns" not in str(exc):
                raise
            # A new instance may not be in a cached list yet: ask the sources again once.
            ident = resolve(ip, leases, self.instances(force=True), self._clock())
        if self.neighbours is not None:
            ident = check_neighbour(ident, self.neighbours.mac_of(ip))
        return ident

    def lookup(self, ip: str) -> Optional[Identity]:
        try:
            return self.resolve(ip)
        except Unproven:
            return None
