"""targetcli batches and the saveconfig parser (LIO cannot run on this kernel: see the module)."""

import json
from pathlib import Path

import dill
import pulumi

from dynamic_providers.preview import UNKNOWN
from dynamic_providers import targetcli as t

FIXTURE = (Path(__file__).parent / "fixtures" / "saveconfig.json").read_text()
# The same target with CHAP on: authentication=1, db-1's ACL with its credentials.
CHAP_FIXTURE = (Path(__file__).parent / "fixtures" / "saveconfig-chap.json").read_text()
IQN = "iqn.2026-11.mammatus:storage-1.db-data"
DB1 = "iqn.2026-11.mammatus:db-1"
PASSWORD = "Xk3v9QpL2mZr7TfW1bNc8HdY"


def props(**extra):
    return {"name": "db-data", "iqn": IQN, "file": "/var/lib/mammatus/iscsi/db-data.img",
            "size_gb": 50, "initiators": ["iqn.2026-11.mammatus:db-1"],
            "portals": [{"ip": "10.0.0.21", "port": 3260}], "connection": None, **extra}


def test_target_iqn():
    assert t.target_iqn("db-data", "storage-1") == IQN


def test_create_batch_order_and_commands():
    batch = t.create_batch(props())
    assert batch[0].startswith("targetcli set global auto_add_mapped_luns=true auto_add_default_portal=false")
    assert "targetcli /backstores/fileio create name=db-data file_or_dev=/var/lib/mammatus/iscsi/db-data.img size=50G write_back=false sparse=true" in batch
    i_backstore = next(i for i, c in enumerate(batch) if "/backstores/fileio create" in c)
    i_target = batch.index(f"targetcli /iscsi create {IQN}")
    i_lun = batch.index(f"targetcli /iscsi/{IQN}/tpg1/luns create /backstores/fileio/db-data")
    i_acl = batch.index(f"targetcli /iscsi/{IQN}/tpg1/acls create iqn.2026-11.mammatus:db-1")
    assert i_backstore < i_target < i_lun < i_acl   # ACLs after the LUN so it gets mapped
    assert f"targetcli /iscsi/{IQN}/tpg1/portals create 10.0.0.21 3260" in batch
    assert batch[-1] == "targetcli saveconfig"
    assert t.script(batch).startswith("set -e\n")


def test_update_batch_only_touches_the_difference():
    old = props(initiators=["iqn.2026-11.mammatus:db-1", "iqn.2026-11.mammatus:old"])
    new = props(initiators=["iqn.2026-11.mammatus:db-1", "iqn.2026-11.mammatus:new"],
                portals=[{"ip": "0.0.0.0", "port": 3260}])
    batch = t.update_batch(old, new)
    assert f"targetcli /iscsi/{IQN}/tpg1/acls delete iqn.2026-11.mammatus:old" in batch
    assert f"targetcli /iscsi/{IQN}/tpg1/acls create iqn.2026-11.mammatus:new" in batch
    assert not any("mammatus:db-1" in c for c in batch)
    assert f"targetcli /iscsi/{IQN}/tpg1/portals delete 10.0.0.21 3260" in batch
    assert f"targetcli /iscsi/{IQN}/tpg1/portals create 0.0.0.0 3260" in batch


def test_delete_batch_keeps_the_data_unless_asked():
    assert not any(c.startswith("rm ") for c in t.delete_batch(props()))
    assert t.delete_batch(props(retain_file=False))[-1] == "rm -f /var/lib/mammatus/iscsi/db-data.img"
    assert any(f"targetcli /iscsi delete {IQN}" in c for c in t.delete_batch(props()))


def test_parse_saveconfig_fixture():
    parsed = t.parse_saveconfig(FIXTURE)
    assert set(parsed["storage_objects"]) == {"db-data", "other"}
    assert list(parsed["targets"]) == [IQN]          # loopback fabric ignored
    state = t.volume_state(parsed, "db-data", IQN)
    assert state["file"] == "/var/lib/mammatus/iscsi/db-data.img"
    assert state["size_gb"] == 50 and state["lun"] == 0 and state["enabled"] is True
    assert state["initiators"] == ["iqn.2026-11.mammatus:backup-1", "iqn.2026-11.mammatus:db-1"]
    assert state["unmapped_initiators"] == ["iqn.2026-11.mammatus:backup-1"]
    assert state["portals"] == [{"ip": "10.0.0.21", "port": 3260}]


def test_missing_volume_and_empty_config():
    assert t.volume_state(t.parse_saveconfig(FIXTURE), "nope", IQN) is None
    assert t.volume_state(t.parse_saveconfig(""), "db-data", IQN) is None
    assert t.parse_saveconfig(json.dumps({"storage_objects": [], "targets": []})) == \
        {"storage_objects": {}, "targets": {}}


def test_check_and_diff():
    inputs, failures = t.check_volume(props(initiators=["iqn.2026-11.mammatus:b", "iqn.2026-11.mammatus:a"]))
    assert not failures and inputs["initiators"] == ["iqn.2026-11.mammatus:a", "iqn.2026-11.mammatus:b"]
    _, failures = t.check_volume(props(name="bad name", iqn="nope", size_gb=0, file="rel",
                                       initiators=["x"]))
    assert {f.property for f in failures} == {"name", "iqn", "size_gb", "file", "initiators"}
    assert t.VolumeProvider().diff("v", props(), props(initiators=[])).replaces == []
    assert t.VolumeProvider().diff("v", props(), props(size_gb=60)).replaces == ["size_gb"]
    moved = t.VolumeProvider().diff("v", props(connection={"host": "10.0.0.21"}), props(connection={"host": "10.0.0.22"}))
    assert "connection" in moved.replaces


def test_provider_reads_through_the_local_transport(tmp_path):
    path = tmp_path / "saveconfig.json"
    path.write_text(FIXTURE)
    provider = dill.loads(dill.dumps(t.VolumeProvider()))
    read = provider.read(IQN, {**props(), "saveconfig": str(path)})
    assert read.id == IQN and read.outs["wwn"] == "4d0ad5a0-3e2b-4f8c-9b1a-2c7d1e6f0a11"
    assert read.inputs["initiators"] == ["iqn.2026-11.mammatus:backup-1", "iqn.2026-11.mammatus:db-1"]
    gone = provider.read("iqn.2026-11.mammatus:storage-1.nope", {**props(), "saveconfig": str(path)})
    assert gone.id is None


def test_unknown_connection_and_initiators_are_left_alone():
    news = props(connection={"host": "10.0.0.21", "private_key": UNKNOWN}, initiators=UNKNOWN)
    inputs, failures = t.check_volume(news)
    assert inputs["initiators"] == UNKNOWN
    assert t.known_failures(news, failures) == []


def chap_props(**extra):
    return props(chap={DB1: {"userid": DB1, "password": PASSWORD}}, **extra)


def test_with_chap_the_tpg_enforces_authentication_before_any_portal_and_no_password_is_an_argument():
    batch = t.create_batch(chap_props())
    attribute = f"targetcli /iscsi/{IQN}/tpg1 set attribute authentication=1 generate_node_acls=0"
    assert batch.index(attribute) < next(i for i, c in enumerate(batch) if "/portals create" in c)
    assert not any(PASSWORD in c for c in batch)
    assert not any("authentication" in c for c in t.create_batch(props()))   # no CHAP: as before


def test_the_auth_batch_sets_each_acls_credentials_then_saves():
    text = t.auth_batch(chap_props())
    assert text.splitlines() == [
        f"/iscsi/{IQN}/tpg1/acls/{DB1} set auth userid={DB1} password={PASSWORD}",
        "saveconfig", "exit"]
    two = chap_props(initiators=[DB1, "iqn.2026-11.mammatus:db-2"])
    two["chap"]["iqn.2026-11.mammatus:db-2"] = {"userid": "db-2", "password": "a" * 12}
    assert len(t.auth_batch(two, ["iqn.2026-11.mammatus:db-2"]).splitlines()) == 3


def test_an_update_sets_credentials_only_for_new_acls_and_changed_passwords():
    old = chap_props()
    assert t.changed_chap(old, chap_props()) == []
    rotated = chap_props()
    rotated["chap"][DB1] = {"userid": DB1, "password": "N3wPassw0rdN3wPassw0rd"}
    assert t.changed_chap(old, rotated) == [DB1]
    legacy = props()            # made before CHAP: its ACL gets credentials, the TPG auth on
    assert t.changed_chap(legacy, chap_props()) == [DB1]
    assert any("authentication=1" in c for c in t.update_batch(legacy, chap_props()))
    assert any("authentication=0" in c for c in t.update_batch(chap_props(), props()))
    assert not any("authentication" in c for c in t.update_batch(props(), props()))


def test_a_changed_password_is_an_update_not_a_replacement():
    rotated = chap_props()
    rotated["chap"][DB1] = {"userid": DB1, "password": "N3wPassw0rdN3wPassw0rd"}
    diff = t.VolumeProvider().diff(IQN, chap_props(), rotated)
    assert diff.changes is True and diff.replaces == []
    assert t.VolumeProvider().diff(IQN, chap_props(), chap_props()).changes is False


def test_chap_is_checked_without_echoing_the_password():
    bad = props(initiators=[DB1, "iqn.2026-11.mammatus:db-2"],
                chap={DB1: {"userid": DB1, "password": "short"}})
    _, failures = t.check_volume(bad)
    reasons = [f.reason for f in failures]
    assert all(f.property == "chap" for f in failures) and len(failures) == 2
    assert any("exactly the initiators" in r for r in reasons)
    assert any("12-255 letters and digits" in r for r in reasons)
    assert not any("short" in r for r in reasons)
    _, failures = t.check_volume(props(chap={DB1: {"userid": "has space", "password": PASSWORD}}))
    assert [f.property for f in failures] == ["chap"]
    assert t.check_volume(chap_props())[1] == []
    unknown = props(chap={DB1: {"userid": DB1, "password": UNKNOWN}})
    assert t.check_volume(unknown)[1] == []


def test_parse_saveconfig_reads_the_chap_settings_back():
    state = t.volume_state(t.parse_saveconfig(CHAP_FIXTURE), "db-data", IQN)
    assert state["authentication"] is True
    assert state["chap"] == {DB1: {"userid": DB1, "password": PASSWORD}}   # backup-1 has none
    plain = t.volume_state(t.parse_saveconfig(FIXTURE), "db-data", IQN)
    assert plain["authentication"] is False and plain["chap"] == {}
    assert t.chap_mismatch(state, chap_props()) == []
    assert t.chap_mismatch(plain, chap_props()) == ["(the TPG's authentication attribute)"]
    other = chap_props()
    other["chap"][DB1]["password"] = "SomethingElse123"
    assert t.chap_mismatch(state, other) == [DB1]


def test_a_refresh_shows_credentials_that_do_not_hold(tmp_path):
    path = tmp_path / "saveconfig.json"
    path.write_text(CHAP_FIXTURE)
    provider = dill.loads(dill.dumps(t.VolumeProvider()))
    read = provider.read(IQN, {**chap_props(), "saveconfig": str(path)})
    assert read.outs["chap"] == {DB1: {"userid": DB1, "password": PASSWORD}}
    path.write_text(FIXTURE)    # authentication off on the host: the credentials count for nothing
    read = provider.read(IQN, {**chap_props(), "saveconfig": str(path)})
    assert read.inputs["chap"] == {}
    assert provider.diff(IQN, read.inputs, chap_props()).changes is True


def test_redact():
    assert t.redact(f"Parameter password is now '{PASSWORD}'.", chap_props()) == \
        "Parameter password is now '********'."


def test_chap_and_the_connection_are_secret_outputs_of_the_volume(monkeypatch):
    seen = {}

    def register(self, provider, name, props, opts=None):
        seen.update(props=props, opts=opts)
    monkeypatch.setattr(pulumi.dynamic.Resource, "__init__", register)
    t.IscsiVolume("v", name="db-data", iqn=IQN, file="/var/lib/mammatus/iscsi/db-data.img",
                  size_gb=1, initiators=[DB1], portals=[], connection=None,
                  chap={DB1: {"userid": DB1, "password": PASSWORD}})
    assert set(seen["opts"].additional_secret_outputs) == {"connection", "chap"}
    assert seen["props"]["chap"] == {DB1: {"userid": DB1, "password": PASSWORD}}
