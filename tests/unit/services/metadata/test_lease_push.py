import json

import pytest

from services.metadata.lease_push import (MAX_BODY, LeaseTable, PushError, Receiver, encode,
                                          parse_body, sign)
from services.metadata.leases import LeaseFileSource

KEY = b"k" * 32
NOW = 1_800_000_000.0
WEB = {"action": "add", "mac": "02:00:00:00:00:02", "ip": "10.0.0.10", "hostname": "web",
       "expiry": 1_800_003_600}


def receiver(tmp_path, clock=lambda: NOW):
    return Receiver(KEY, LeaseTable(tmp_path / "pushed.leases"), clock=clock)


def push(rx, leases, sync=False, sent=NOW, key=KEY):
    body = encode(leases, sync=sync, sent=sent)
    return rx.receive(body, sign(key, body))


def test_an_add_is_saved_in_dnsmasq_format_and_read_as_a_lease(tmp_path):
    rx = receiver(tmp_path)
    assert push(rx, [WEB]) == 1
    text = (tmp_path / "pushed.leases").read_text()
    assert text == "1800003600 02:00:00:00:00:02 10.0.0.10 web *\n"
    [lease] = LeaseFileSource(tmp_path / "pushed.leases").get()
    assert (lease.ip, lease.mac, lease.hostname) == ("10.0.0.10", "02:00:00:00:00:02", "web")


def test_del_removes_only_the_lease_of_that_mac(tmp_path):
    rx = receiver(tmp_path)
    push(rx, [WEB])
    push(rx, [{**WEB, "action": "del", "mac": "02:00:00:00:00:99"}], sent=NOW + 1)
    assert [lease.ip for lease in rx.table.leases()] == ["10.0.0.10"]
    push(rx, [{**WEB, "action": "del"}], sent=NOW + 2)
    assert rx.table.leases() == []


def test_a_new_mac_for_an_address_replaces_the_old(tmp_path):
    rx = receiver(tmp_path)
    push(rx, [WEB])
    push(rx, [{**WEB, "action": "old", "mac": "02:00:00:00:00:03"}], sent=NOW + 1)
    assert [lease.mac for lease in rx.table.leases()] == ["02:00:00:00:00:03"]


def test_sync_replaces_everything(tmp_path):
    rx = receiver(tmp_path)
    push(rx, [WEB])
    other = {**WEB, "mac": "02:00:00:00:00:04", "ip": "10.0.0.11", "hostname": None}
    push(rx, [other], sync=True, sent=NOW + 1)
    assert [(lease.ip, lease.hostname) for lease in rx.table.leases()] == [("10.0.0.11", "*")]


def test_the_table_survives_a_restart(tmp_path):
    push(receiver(tmp_path), [WEB])
    assert [lease.ip for lease in receiver(tmp_path).table.leases()] == ["10.0.0.10"]


@pytest.mark.parametrize("signature", [None, "", "00" * 32, sign(b"other key", b"x")])
def test_a_bad_signature_is_refused_and_changes_nothing(tmp_path, signature):
    rx = receiver(tmp_path)
    body = encode([WEB], sync=False, sent=NOW)
    with pytest.raises(PushError) as err:
        rx.receive(body, signature)
    assert err.value.status == 403
    assert rx.table.leases() == [] and not (tmp_path / "pushed.leases").exists()


def test_a_replayed_push_is_refused(tmp_path):
    rx = receiver(tmp_path)
    body = encode([WEB], sync=False, sent=NOW)
    rx.receive(body, sign(KEY, body))
    with pytest.raises(PushError, match="already received") as err:
        rx.receive(body, sign(KEY, body))
    assert err.value.status == 403


@pytest.mark.parametrize("sent", [NOW - 301, NOW + 301])
def test_a_stale_or_future_push_is_refused(tmp_path, sent):
    with pytest.raises(PushError, match="clock") as err:
        push(receiver(tmp_path), [WEB], sent=sent)
    assert err.value.status == 403


def test_an_oversized_body_is_413(tmp_path):
    body = b" " * (MAX_BODY + 1)
    with pytest.raises(PushError) as err:
        receiver(tmp_path).receive(body, sign(KEY, body))
    assert err.value.status == 413


@pytest.mark.parametrize("body, message", [
    (b"\xff", "not JSON"),
    (b"[]", "JSON object"),
    (b'{"sent": "now", "leases": []}', "sent"),
    (b'{"sent": 1, "sync": "yes", "leases": []}', "sync"),
    (b'{"sent": 1, "leases": {}}', "leases must be a list"),
    (b'{"sent": 1, "leases": [1]}', r"leases\[0\] must be an object"),
    (json.dumps({"sent": 1, "leases": [{**WEB, "action": "grab"}]}).encode(), "action"),
    (json.dumps({"sent": 1, "leases": [{**WEB, "mac": "nope"}]}).encode(), "mac"),
    (json.dumps({"sent": 1, "leases": [{**WEB, "ip": "fd00::1"}]}).encode(), "IPv4"),
    (json.dumps({"sent": 1, "leases": [{**WEB, "hostname": "a b"}]}).encode(), "hostname"),
    (json.dumps({"sent": 1, "leases": [{**WEB, "expiry": -1}]}).encode(), "expiry"),
])
def test_malformed_bodies_are_400_naming_the_field(body, message):
    with pytest.raises(PushError, match=message) as err:
        parse_body(body)
    assert err.value.status == 400


def test_an_empty_key_is_refused(tmp_path):
    with pytest.raises(ValueError):
        Receiver(b"", LeaseTable(tmp_path / "x"))
