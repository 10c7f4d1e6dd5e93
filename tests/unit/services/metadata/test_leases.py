from services.metadata.leases import LeaseFileSource, parse_leases

LEASES = """\
1795843540 02:00:00:00:00:02 10.0.0.10 web-1 01:02:00:00:00:00:02
0 02:00:00:00:00:03 10.0.0.11 * *
duid 00:01:00:01:2c:aa:bb:cc:dd:ee:ff:00:11
1795843540 1234567 fd00::10 web-1 00:01:00:01
garbage line
1795843540 not-a-mac 10.0.0.12 x *
"""


def test_parse_leases_keeps_ipv4_mac_leases_only():
    leases = parse_leases(LEASES)
    assert [(lease.ip, lease.mac, lease.hostname) for lease in leases] == [
        ("10.0.0.10", "02:00:00:00:00:02", "web-1"), ("10.0.0.11", "02:00:00:00:00:03", "*")]


def test_expiry():
    web, infinite = parse_leases(LEASES)
    assert web.active(1795843539) and not web.active(1795843540)
    assert infinite.active(4e9)


def test_source_rereads_when_replaced(tmp_path):
    path = tmp_path / "leases"
    source = LeaseFileSource(path)
    assert source.get() == []  # missing file: no leases
    path.write_text("0 02:00:00:00:00:02 10.0.0.10 a *\n")
    assert [line.ip for line in source.get()] == ["10.0.0.10"]
    tmp = tmp_path / "leases.new"
    tmp.write_text("0 02:00:00:00:00:02 10.0.0.20 a *\n")
    tmp.replace(path)
    assert [line.ip for line in source.get()] == ["10.0.0.20"]
