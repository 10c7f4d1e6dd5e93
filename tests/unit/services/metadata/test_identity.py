import asyncio

import pytest

from services.metadata.identity import (NeighbourTable, Resolver, ThisTurn, Unproven,
                                        check_neighbour, forward_signature, parse_arp, resolve,
                                        source_address)
from services.metadata.leases import Lease

from tests.support import aio

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


# As the kernel writes it (captured from `ip neigh replace … nud <state>`): INCOMPLETE and FAILED
# entries keep printing the last MAC they knew, with the flags (ATF_COM) clear.
ARP = """\
IP address       HW type     Flags       HW address            Mask     Device
10.0.0.10        0x1         0x2         02:00:00:00:00:02     *        br0
10.0.0.11        0x1         0x2         02:00:00:00:00:66     *        br0
10.0.0.12        0x1         0x0         00:00:00:00:00:00     *        br0
10.0.0.13        0x1         0x0         02:00:00:00:00:13     *        br0
10.0.0.14        0x1         0x6         02:00:00:00:00:14     *        br0
10.0.0.15        0x1         0x2         02:00:00:00:00:66     *        eth1
10.0.0.15        0x1         0x2         02:00:00:00:00:15     *        br0
"""
SITE = [Lease(0, f"02:00:00:00:00:{n}", f"10.0.0.{n}", f"i{n}") for n in (12, 13, 14, 15)]
OTHERS = [type(DB)(name=f"i{n}", instance_id=f"i-{n}", macs=(f"02:00:00:00:00:{n}",))
          for n in (12, 13, 14, 15)]


def test_only_entries_with_a_usable_address_count():
    table = parse_arp(ARP)
    assert table["10.0.0.10"] == {"02:00:00:00:00:02"}
    assert "10.0.0.12" not in table and "10.0.0.13" not in table  # INCOMPLETE / FAILED
    assert table["10.0.0.14"] == {"02:00:00:00:00:14"}            # PERMANENT (static)
    assert table["10.0.0.15"] == {"02:00:00:00:00:15", "02:00:00:00:00:66"}


def neighbour_resolver(tmp_path) -> Resolver:
    table = tmp_path / "arp"
    table.write_text(ARP)
    return Resolver([Source(LEASES + SITE)], [Source([WEB, DB] + OTHERS)], clock=lambda: NOW,
                    neighbours=NeighbourTable(str(table)))


@pytest.mark.parametrize("ip,message", [
    ("10.0.0.11", "other than the leased"),   # someone else answers ARP for db-1's address
    ("10.0.0.12", "no usable neighbour entry"),  # INCOMPLETE, nothing learned
    ("10.0.0.13", "no usable neighbour entry"),  # FAILED, though it shows the leased MAC
    ("10.0.0.15", "other than the leased"),   # another MAC on eth1, the leased one on br0
    ("10.0.0.99", "no active DHCP lease"),
])
def test_neighbour_check_refuses(tmp_path, ip, message):
    with pytest.raises(Unproven, match=message):
        neighbour_resolver(tmp_path).resolve(ip)


def test_neighbour_check_accepts_the_leased_mac(tmp_path):
    resolver = neighbour_resolver(tmp_path)
    assert resolver.resolve("10.0.0.10").instance is WEB
    assert resolver.resolve("10.0.0.14").instance.name == "i14"
    with pytest.raises(Unproven, match="no usable neighbour entry"):
        check_neighbour(resolve("10.0.0.10", LEASES, [WEB], NOW), frozenset())


def test_a_signed_relays_forwarded_address_is_not_checked_on_this_link(tmp_path):
    resolver = neighbour_resolver(tmp_path)
    assert resolver.resolve("10.0.0.12", on_link=False).instance.name == "i12"
    with pytest.raises(Unproven, match="no active DHCP lease"):
        resolver.resolve("10.0.0.99", on_link=False)  # the rest of the chain still holds


def test_reads_are_shared_within_one_loop_turn_only():
    reads = []
    value = ThisTurn(lambda: reads.append(1) or len(reads))

    async def requests():
        first = [value.get(), value.get()]   # two requests handled in one turn: one read
        await asyncio.sleep(0)               # a later turn (a request that arrived since)
        return first, value.get()

    assert aio.run(requests()) == ([1, 1], 2)
    assert [value.get(), value.get()] == [3, 4]  # off the loop (an LXD thread): every call reads
