"""dnsmasq's lease file: which MAC the cloud's DHCP server gave each IPv4 address, until when.

Format, one lease a line: `<expiry epoch|0> <mac> <ip> <hostname|*> <client-id|*>`; a `duid` line
and IPv6 leases (no MAC) are skipped. 0 means an infinite lease.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from .inventory import MAC


@dataclass(frozen=True)
class Lease:
    expiry: int          # epoch seconds; 0 = never
    mac: str
    ip: str
    hostname: str

    def active(self, now: float) -> bool:
        return self.expiry == 0 or self.expiry > now


def parse_leases(text: str) -> list[Lease]:
    leases = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] == "duid":
            continue
        try:
            expiry = int(parts[0])
            ip = ipaddress.ip_address(parts[2])
        except ValueError:
            continue  # dnsmasq writes the file; a torn line must not take the service down
        mac = parts[1].lower()
        if ip.version != 4 or not MAC.match(mac):
            continue
        leases.append(Lease(expiry, mac, str(ip), parts[3]))
    return leases


class LeaseFileSource:
    """Re-parses when dnsmasq rewrites the file (it replaces it atomically, so the inode moves)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp = None
        self._leases: list[Lease] = []

    def get(self) -> list[Lease]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._leases = None, []
            return []
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._leases = parse_leases(self.path.read_text(errors="replace"))
            self._stamp = stamp
        return self._leases
