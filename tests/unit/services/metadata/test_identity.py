import pytest

from services.metadata.identity import (NeighbourTable, Resolver, Unproven, check_neighbour,
                                        forward_signature, parse_arp, resolve, source_address)
from services.metadata.leases import Lease

from .helpers import DB, WEB

NOW = 1_800_000_000
LEASES = [Lease(0, "02:00:00:00:00:02", "10.0.0.10", "web-1"),
          Lease(NOW + 60, "02:00:00:00:00:03", "10.0.0.11", "db-1")]


def test_ip_lease_mac_instance():
    ident = resolve("10.0.0.10", LEASES, [WEB, DB], NOW)
    assert ident.instance is WEB and ident.mac == "02:00:00:00:00:02" and ident.ip == "10.0.0.10"
    assert resolve("10.0.0.11", LEASES, [WEB, DB], NOW).instance is DB


@pytest.mark.parametrize("ip,leases,instances,now,message", [
    ("10.0.0.99", LEASES, [WEB, DB], NOW, "no active DHCP lease"),
    ("10.0.0.11", LEASES, [WEB, DB], NOW + 61, "no active DHCP lease"),  # expired
    ("10.0.0.10", LEASES, [DB], NOW, "no instance owns"),
    ("10.0.0.10", LEASES + [Lease(0, "02:00:00:00:00:09", "10.0.0.10", "x")], [WEB], NOW,
     "several MACs"),
])
def test_unprovable(ip, leases, instances, now, message):
    with pytest.raises(Unproven, match=message):
        resolve(ip, leases, instances, now)


def test_mac_claimed_by_two_instances_is_refused():
    twin = type(DB)(name="twin", instance_id="i-1", macs=WEB.macs)
    with pytest.raises(Unproven, match="several instances"):
        resolve("10.0.0.10", LEASES, [WEB, twin], NOW)


def test_forwarded_for_only_from_signing_proxy():
    secret = b"relay-key-0123456789"
    proxies = {"10.0.1.1": secret}
    signed = {"X-Forwarded-For": "10.0.0.10",
              "X-Mammatus-Forwarded-Signature": forward_signature(secret, "10.0.0.10")}
    assert source_address("10.0.1.1", signed, proxies) == "10.0.0.10"
    # Anyone else's X-Forwarded-For is ignored, signed or not.
    assert source_address("10.0.0.11", signed, proxies) == "10.0.0.11"
    with pytest.raises(Unproven, match="signature"):
        source_address("10.0.1.1", {"X-Forwarded-For": "10.0.0.10"}, proxies)
    with pytest.raises(Unproven, match="signature"):
        source_address("10.0.1.1", dict(signed, **{"X-Forwarded-For": "10.0.0.11"}), proxies)
    # The relay's own requests (no header) are its own.
    assert source_address("10.0.1.1", {}, proxies) == "10.0.1.1"


class Source:
    def __init__(self, items):
        self.items, self.forced = items, 0

    def get(self, force=False):
        self.forced += force
        return self.items


def test_resolver_refreshes_sources_once_for_an_unknown_mac():
    inventory = Source([DB])
    resolver = Resolver([Source(LEASES)], [inventory], clock=lambda: NOW)
    with pytest.raises(Unproven):
        resolver.resolve("10.0.0.10")
    assert inventory.forced == 1
    inventory.items = [DB, WEB]
    assert resolver.resolve("10.0.0.10").instance is WEB
    assert resolver.lookup("10.0.0.99") is None


ARP = """\
IP address       HW type     Flags       HW address            Mask     Device
10.0.0.10        0x1         0x2         02:00:00:00:00:02     *        br0
10.0.0.11        0x1         0x2         02:00:00:00:00:66     *        br0
10.0.0.12        0x1         0x0         00:00:00:00:00:00     *        br0
"""


def test_neighbour_check(tmp_path):
    assert parse_arp(ARP) == {"10.0.0.10": "02:00:00:00:00:02", "10.0.0.11": "02:00:00:00:00:66"}
    table = tmp_path / "arp"
    table.write_text(ARP)
    resolver = Resolver([Source(LEASES)], [Source([WEB, DB])], clock=lambda: NOW,
                        neighbours=NeighbourTable(str(table)))
    assert resolver.resolve("10.0.0.10").instance is WEB
    # db-1's address answers ARP from another MAC: someone else holds the IP.
    with pytest.raises(Unproven, match="other than the leased"):
        resolver.resolve("10.0.0.11")
    with pytest.raises(Unproven, match="no neighbour entry"):
        check_neighbour(resolve("10.0.0.10", LEASES, [WEB], NOW), None)
