import dill
import pytest

from tools.ssh import SshError, load_key

from dynamic_providers import dnsmasq as dm


def test_reservation_file_round_trips():
    text = dm.reservation_line("52:54:00:00:00:11", "10.0.0.11", "node-1")
    assert text.splitlines()[-1] == "52:54:00:00:00:11,10.0.0.11,node-1"
    assert dm.parse_reservation(text) == {"mac": "52:54:00:00:00:11", "address": "10.0.0.11",
                                          "hostname": "node-1"}


def test_reservation_parser_reads_dnsmasq_syntax_written_by_hand():
    assert dm.parse_reservation("# x\n\nset:pxe,52:54:00:AA:00:01,web,10.0.0.9,infinite\n") == {
        "mac": "52:54:00:aa:00:01", "address": "10.0.0.9", "hostname": "web"}
    assert dm.parse_reservation("# only a comment\n") is None
    # no address: the client is only named (an instance whose address comes from the range)
    assert dm.parse_reservation("52:54:00:aa:00:01,web\n") == {
        "mac": "52:54:00:aa:00:01", "address": None, "hostname": "web"}
    assert dm.parse_reservation("web,10.0.0.9\n") is None      # no MAC: not a reservation


def test_a_named_only_reservation_round_trips_and_checks():
    text = dm.reservation_line("00:16:3e:00:00:01", None, "web")
    assert text.splitlines()[-1] == "00:16:3e:00:00:01,web"
    assert dm.parse_reservation(text) == {"mac": "00:16:3e:00:00:01", "address": None, "hostname": "web"}
    _, failures = dm.check_reservation({**BASE, "mac": "00:16:3e:00:00:01", "address": None,
                                        "hostname": "web"})
    assert failures == []
    _, failures = dm.check_record({**BASE, "name": "web", "address": None})
    assert [f.property for f in failures] == ["address"]      # a record always needs one


def test_record_file_round_trips_with_the_short_name():
    text = dm.record_line("files.lab.test", "10.0.0.30")
    assert text.splitlines()[-1] == "10.0.0.30 files.lab.test files"
    assert dm.parse_record(text) == {"name": "files.lab.test", "address": "10.0.0.30"}
    assert dm.record_line("files", "10.0.0.30").splitlines()[-1] == "10.0.0.30 files"
    assert dm.parse_record("garbage\n") is None


def test_lease_lines_are_parsed_and_found_by_mac():
    text = ("1764300000 52:54:00:aa:bb:01 10.0.0.42 web-1 01:52:54:00:aa:bb:01\n"
            "1764300500 52:54:00:aa:bb:02 10.0.0.43 * *\n"
            "duid 00:01:00:01:2c:aa\n"
            "1764300600 52:54:00:aa:bb:03 fd00::3 v6 *\n")
    leases = dm.parse_leases(text)
    assert len(leases) == 2
    assert leases[0] == {"expiry": 1764300000, "mac": "52:54:00:aa:bb:01", "address": "10.0.0.42",
                         "hostname": "web-1", "client_id": "01:52:54:00:aa:bb:01"}
    assert leases[1]["hostname"] is None and leases[1]["client_id"] is None
    assert dm.lease_for(leases, "52:54:00:AA:BB:02")["address"] == "10.0.0.43"
    assert dm.lease_for(leases, "52:54:00:aa:bb:09") is None


def test_paths_and_the_sighup_command():
    assert dm.reservation_path("/d", "52:54:00:00:00:11") == "/d/mammatus-52-54-00-00-00-11"
    assert dm.record_path("/h", "files.lab") == "/h/mammatus-files.lab"
    assert dm.sighup_command("/run/x y.pid") == (
        "if [ -s '/run/x y.pid' ]; then kill -HUP \"$(cat '/run/x y.pid')\"; fi")


BASE = {"connection": None, "dhcp_hosts_dir": "/d", "hosts_dir": "/h", "pid_file": "/p.pid",
        "lease_file": "/l"}


def test_check_normalizes_and_names_each_bad_field():
    inputs, failures = dm.check_reservation({**BASE, "mac": "52-54-00-AA-00-01", "address": "10.0.0.9",
                                             "hostname": "web"})
    assert failures == [] and inputs["mac"] == "52:54:00:aa:00:01"
    _, failures = dm.check_reservation({**BASE, "mac": "zz", "address": "10.0.0.300",
                                        "hostname": "Bad_Name", "pid_file": "rel"})
    assert sorted(f.property for f in failures) == ["address", "hostname", "mac", "pid_file"]
    _, failures = dm.check_record({**BASE, "name": "a..b", "address": "x", "connection": {"port": 22}})
    assert sorted(f.property for f in failures) == ["address", "connection", "name"]


def test_diff_replaces_only_on_identity_changes():
    old = {**BASE, "mac": "52:54:00:aa:00:01", "address": "10.0.0.9", "hostname": "web",
           "path": "/d/x", "lease": {"address": "10.0.0.9"}}
    same = dm.ReservationProvider().diff("r", old, {**old, "path": None, "lease": None})
    assert not same.changes
    moved = dm.ReservationProvider().diff("r", old, {**old, "address": "10.0.0.10"})
    assert moved.changes and moved.replaces == []
    new_mac = dm.ReservationProvider().diff("r", old, {**old, "mac": "52:54:00:aa:00:02"})
    assert new_mac.replaces == ["mac"]
    conn = {"host": "10.0.0.1", "port": 22, "user": "root", "private_key": "k"}
    other_host = dm.ReservationProvider().diff("r", {**old, "connection": conn},
                                               {**old, "connection": {**conn, "host": "10.0.0.2"}})
    assert other_host.replaces == ["connection"]
    new_key = dm.ReservationProvider().diff("r", {**old, "connection": conn},
                                            {**old, "connection": {**conn, "private_key": "k2"}})
    assert new_key.changes and new_key.replaces == []


def test_local_transport_crud(tmp_path):
    provider = dm.RecordProvider()
    props = {**BASE, "hosts_dir": str(tmp_path / "hosts"), "pid_file": str(tmp_path / "none.pid"),
             "name": "files.lab", "address": "10.0.0.30"}
    created = provider.create(props)
    assert (tmp_path / "hosts" / "mammatus-files.lab").read_text().endswith("10.0.0.30 files.lab files\n")
    read = provider.read(created.id, created.outs)
    assert read.inputs["address"] == "10.0.0.30" and "path" not in read.inputs
    provider.delete(created.id, created.outs)
    assert provider.read(created.id, created.outs).id is None


def test_a_pid_file_naming_a_dead_process_is_an_error(tmp_path):
    (tmp_path / "dead.pid").write_text("999999999\n")
    props = {**BASE, "hosts_dir": str(tmp_path), "pid_file": str(tmp_path / "dead.pid"),
             "name": "x", "address": "10.0.0.1"}
    with pytest.raises(RuntimeError, match="kill -HUP"):
        dm.RecordProvider().create(props)


def test_providers_survive_dill_pickling():
    for provider in (dm.ReservationProvider(), dm.RecordProvider()):
        clone = dill.loads(dill.dumps(provider, recurse=True))
        assert type(clone).__name__ == type(provider).__name__
        assert clone.check({}, {**BASE, "mac": "52:54:00:aa:00:01", "address": "10.0.0.9",
                                "hostname": "web", "name": "web"}).failures == []


def test_an_unusable_private_key_is_refused_before_connecting():
    with pytest.raises(SshError, match="failed to parse the connection's private key"):
        load_key("not a key")
