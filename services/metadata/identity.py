"""Who is asking: the request's source IP, proven against the cloud's own records.

Chain: source IP -> active DHCP lease (dnsmasq) -> MAC -> exactly one instance (inventory / LXD)
whose NIC has that MAC. Every link must be unambiguous; anything else is refused, never guessed.
Where the service shares the instances' L2 (the default), the kernel's ARP entry for the IP must
show that MAC too.
Headers are never trusted for identity, except X-Forwarded-For from a configured proxy that signs
it (HMAC), which is how OpenStack fixed CVE-2013-6419.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, TypeVar

from .inventory import Instance, InventoryError
from .leases import Lease

T = TypeVar("T")


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


# /proc/net/arp's Flags column: ATF_COM is set exactly when the kernel holds a usable link-layer
# address (NUD_VALID: REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP). INCOMPLETE and FAILED
# entries have it clear but still print the last address they knew, so the flag, not the address
# column, says whether an entry proves anything.
ATF_COM = 0x2
NO_MAC = "00:00:00:00:00:00"


def parse_arp(text: str) -> dict[str, frozenset[str]]:
    """/proc/net/arp -> {ip: MACs of its usable entries}, one entry per device the IP was seen
    on. Entries without a usable address (INCOMPLETE, FAILED) are left out: they prove nothing."""
    table: dict[str, set[str]] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4 or not int(parts[2], 16) & ATF_COM or parts[3] == NO_MAC:
            continue
        table.setdefault(parts[0], set()).add(parts[3].lower())
    return {ip: frozenset(macs) for ip, macs in table.items()}


_UNREAD = object()


class ThisTurn:
    """`read()`'s value, kept for the rest of the event loop's current turn.

    Requests handled in one turn share one read (a stat of each source, one neighbour table), and
    none sees data older than its own request: the value is dropped by a callback queued when it
    was read, and the loop runs callbacks in order, so every task that finds it was woken (its
    request had arrived) before the read. Off the loop (an LXD resolution in a thread): no
    keeping, every call reads."""

    def __init__(self, read: Callable[[], T]):
        self._read = read
        self._value: object = _UNREAD

    def get(self) -> T:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._read()
        if self._value is _UNREAD:
            self._value = self._read()
            loop.call_soon(self._forget)
        return self._value

    def _forget(self) -> None:
        self._value = _UNREAD


class NeighbourTable:
    """The kernel's view of which MAC the source IP answers ARP from, read anew for the requests
    of each loop turn (ThisTurn): an entry the kernel changed before a request arrived counts
    for it. Only meaningful when the service shares the instances' L2: routed peers have no
    entry and are refused.

    The file stays open (one per process) and is read with pread from offset 0, which makes
    procfs render the table anew: a tenth of the cost of opening it each time."""

    def __init__(self, path: str = "/proc/net/arp"):
        self.path = path
        self._fd: Optional[int] = None
        self._pid: Optional[int] = None
        self._table = ThisTurn(lambda: parse_arp(self._read()))

    def macs_of(self, ip: str) -> frozenset[str]:
        return self._table.get().get(ip, frozenset())

    def _read(self) -> str:
        try:
            if self._pid != os.getpid():  # forked workers each read through their own file
                self._fd, self._pid = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC), os.getpid()
            chunks, offset = [], 0
            while chunk := os.pread(self._fd, 65536, offset):
                chunks.append(chunk)
                offset += len(chunk)
        except OSError as exc:
            self._pid = None  # open it again next time
            raise InventoryError(f"cannot read the neighbour table {self.path}: "
                                 f"{exc.strerror}") from None
        return b"".join(chunks).decode("ascii", "replace")


def check_neighbour(ident: Identity, observed: frozenset[str]) -> Identity:
    """The leased MAC must be the only address the kernel holds for the IP.

    STALE/DELAY/PROBE entries count: the kernel keeps and uses that address, and the TCP
    handshake this request came over was answered there; a first contact normally shows DELAY (the
    instance's own ARP request for 169.254.169.254 left a STALE entry, our SYN-ACK used it). A
    missing, INCOMPLETE or FAILED entry (no usable address) or a second MAC (another device) is a
    refusal, never a guess."""
    if not observed:
        raise Unproven(f"no usable neighbour entry for {ident.ip} (missing or INCOMPLETE: "
                       "not on this L2?)")
    if observed != {ident.mac}:
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
        self._leases = ThisTurn(lambda: [lease for src in self.lease_sources
                                         for lease in src.get()])
        self._instances = ThisTurn(lambda: self._read_instances(force=False))

    def leases(self) -> list[Lease]:
        return self._leases.get()

    def instances(self, force: bool = False) -> list[Instance]:
        return self._read_instances(force=True) if force else self._instances.get()

    def _read_instances(self, force: bool) -> list[Instance]:
        return [i for src in self.inventory_sources for i in src.get(force=force)]

    def resolve(self, ip: str, on_link: bool = True) -> Identity:
        """`on_link`: the IP is the TCP peer itself, so its neighbour entry is checked; a signed
        relay's forwarded address is not on this link, the relay vouches for it."""
        leases = self.leases()
        try:
            ident = resolve(ip, leases, self.instances(), self._clock())
        except Unproven as exc:
            if "no instance owns" not in str(exc):
                raise
            # A new instance may not be in a cached list yet: ask the sources again once.
            ident = resolve(ip, leases, self.instances(force=True), self._clock())
        if self.neighbours is not None and on_link:
            ident = check_neighbour(ident, self.neighbours.macs_of(ip))
        return ident

    def lookup(self, ip: str) -> Optional[Identity]:
        try:
            return self.resolve(ip)
        except Unproven:
            return None
