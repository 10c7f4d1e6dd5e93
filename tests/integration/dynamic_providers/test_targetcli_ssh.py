"""CONTRACT TEST of the targetcli provider over a real SSH connection (a private sshd on
loopback), against a FAKE targetcli: this kernel has no configfs/LIO, so real targetcli cannot
run (see dynamic_providers/targetcli.py). The fake below models just the targetcli-fb commands
the provider's batches use (set global, backstores/fileio create|delete, iscsi create|delete,
luns/portals/acls create|delete, the TPG's `set attribute`, an ACL's `set auth`, ls, saveconfig)
on a state kept in rtslib-fb's saveconfig.json format (an ACL's CHAP credentials as
chap_userid/chap_password), rejecting anything else, and it reads a batch on its standard input
as targetcli does (errors printed, the rest run, exit 0; each line logged under
$TARGETCLI_HOME). So the test checks that the batches run as one `set -e` script over SSH, that
the CHAP passwords reach targetcli only on its standard input from a 0600 file in a private home
that is gone afterwards, and that what `saveconfig` writes reads back as the volume that was
asked for. What the batch lines mean to the real targetcli is checked by its own grammar in
test_targetcli_grammar.py.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import dill

import pytest

from dynamic_providers.targetcli import VolumeProvider, target_iqn
from tests.support.sshd import running_sshd

pytestmark = pytest.mark.integration

FAKE = r'''#!/usr/bin/env python3
import json, os, stat, sys
STATE, SAVE, LOG = __STATE__, __SAVE__, __LOG__
state = json.load(open(STATE)) if os.path.exists(STATE) else {"fabric_modules": [], "storage_objects": [], "targets": []}
class Refused(Exception):
    pass
def target(iqn):
    return next((t for t in state["targets"] if t["wwn"] == iqn), None)
def fail(msg):
    raise Refused(msg)
def run(args):
    kv = dict(a.split("=", 1) for a in args if "=" in a)
    path, cmd = (args + ["", ""])[:2]
    if path == "set" and cmd == "global":
        pass
    elif path == "saveconfig":
        json.dump(state, open(SAVE, "w"), indent=2)
        os.chmod(SAVE, 0o600)             # as rtslib-fb saves it: it holds the CHAP secrets
    elif path == "ls":
        p = args[1]
        if p.startswith("/iscsi/"):
            sys.exit(0 if target(p.split("/")[2]) else 1)
        name = p.rsplit("/", 1)[1]
        sys.exit(0 if any(s["name"] == name for s in state["storage_objects"]) else 1)
    elif path == "/backstores/fileio" and cmd == "create":
        size = int(kv["size"].rstrip("G")) * 1024 ** 3
        open(kv["file_or_dev"], "a").close()
        state["storage_objects"].append({"plugin": "fileio", "name": kv["name"], "dev": kv["file_or_dev"],
            "size": size, "write_back": kv["write_back"] == "true", "wwn": "wwn-" + kv["name"],
            "aio": False, "alua_tpgs": [], "attributes": {"block_size": 512}})
    elif path == "/backstores/fileio" and cmd == "delete":
        state["storage_objects"] = [s for s in state["storage_objects"] if s["name"] != args[2]]
    elif path == "/iscsi" and cmd == "create":
        if target(args[2]): fail("This Target already exists in configFS")
        # As targetcli-fb makes a TPG: authentication 0 (ui_target.py), no ACLs on the fly.
        state["targets"].append({"fabric": "iscsi", "wwn": args[2], "tpgs": [{"tag": 1, "enable": True,
            "luns": [], "portals": [], "node_acls": [],
            "attributes": {"authentication": 0, "generate_node_acls": 0}, "parameters": {}}]})
    elif path == "/iscsi" and cmd == "delete":
        state["targets"] = [t for t in state["targets"] if t["wwn"] != args[2]]
    elif path.startswith("/iscsi/") and path.endswith("/tpg1/luns") and cmd == "create":
        tpg = target(path.split("/")[2])["tpgs"][0]
        if not any(s["name"] == args[2].rsplit("/", 1)[1] for s in state["storage_objects"]): fail("no such backstore")
        tpg["luns"].append({"index": len(tpg["luns"]), "storage_object": args[2], "alias": "a", "alua_tg_pt_gp_name": "default_tg_pt_gp"})
    elif path.endswith("/tpg1/portals") and cmd in ("create", "delete"):
        tpg = target(path.split("/")[2])["tpgs"][0]
        portal = {"ip_address": args[2], "port": int(args[3]), "iser": False, "offload": False}
        tpg["portals"] = [p for p in tpg["portals"] if p != portal] + ([portal] if cmd == "create" else [])
    elif path.endswith("/tpg1/acls") and cmd in ("create", "delete"):
        tpg = target(path.split("/")[2])["tpgs"][0]
        tpg["node_acls"] = [a for a in tpg["node_acls"] if a["node_wwn"] != args[2]]
        if cmd == "create":
            tpg["node_acls"].append({"node_wwn": args[2], "attributes": {}, "mapped_luns": [
                {"index": l["index"], "tpg_lun": l["index"], "write_protect": False, "alias": "m"} for l in tpg["luns"]]})
    elif path.endswith("/tpg1") and cmd == "set" and args[2] == "attribute":
        target(path.split("/")[2])["tpgs"][0]["attributes"].update({k: int(v) for k, v in kv.items()})
    elif "/tpg1/acls/" in path and cmd == "set" and args[2] == "auth":
        tpg = target(path.split("/")[2])["tpgs"][0]
        acl = next((a for a in tpg["node_acls"] if a["node_wwn"] == path.rsplit("/", 1)[1]), None)
        if acl is None or "refused" in acl["node_wwn"]: fail("No such path " + path)
        for key, value in kv.items():
            acl["chap_" + key] = value
            print(f"Parameter {key} is now '{value}'.")   # as configshell-fb's `set` echoes it
    else:
        fail("fake targetcli: unsupported command " + " ".join(args))
with open(LOG, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
if sys.argv[1:]:
    try:
        run(sys.argv[1:])
    except Refused as exc:
        print(exc, file=sys.stderr); sys.exit(1)
else:
    # Batch mode, as targetcli reads its standard input: every command runs, an error is
    # printed and the next one goes on, and the exit status is 0. Like targetcli, it logs each
    # command line to $TARGETCLI_HOME/log.txt.
    home = os.environ.get("TARGETCLI_HOME", os.path.expanduser("~/.targetcli"))
    st = os.fstat(0)
    with open(LOG + ".stdin", "a") as f:
        f.write(json.dumps({"home": home, "regular": stat.S_ISREG(st.st_mode),
                            "mode": stat.S_IMODE(st.st_mode)}) + "\n")
    with open(os.path.join(home, "log.txt"), "a") as log:
        for line in sys.stdin:
            log.write(line)
            if line.strip() in ("", "exit"):
                continue
            try:
                run(line.split())
            except Refused as exc:
                print(exc)
json.dump(state, open(STATE, "w"))
'''


@pytest.fixture
def host(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    work = tmp_path / "host"
    work.mkdir()
    fake = work / "targetcli"
    fake.write_text(FAKE.replace("__STATE__", repr(str(work / "state.json")))
                        .replace("__SAVE__", repr(str(work / "saveconfig.json")))
                        .replace("__LOG__", repr(str(work / "calls.log"))))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    sshd_dir = tmp_path / "sshd"
    sshd_dir.mkdir()
    with running_sshd(sshd_dir, public) as server:
        yield {"work": work, "connection": {"host": "127.0.0.1", "port": server["port"],
                                            "user": "root", "private_key": private}}


def test_volume_lifecycle_over_ssh(host):
    work = host["work"]
    iqn = target_iqn("db-data", "storage-1")
    provider = VolumeProvider()
    inputs = provider.check({}, {
        "name": "db-data", "iqn": iqn, "file": str(work / "db-data.img"), "size_gb": 2,
        "initiators": ["iqn.2026-11.mammatus:db-1"], "portals": [{"ip": "127.0.0.1", "port": 3260}],
        "connection": host["connection"], "retain_file": False,
        "targetcli": str(work / "targetcli"), "saveconfig": str(work / "saveconfig.json")}).inputs
    created = provider.create(inputs)
    assert created.id == iqn and created.outs["lun"] == 0 and created.outs["wwn"] == "wwn-db-data"

    read = provider.read(iqn, inputs)
    assert read.outs["initiators"] == ["iqn.2026-11.mammatus:db-1"]
    assert read.outs["portals"] == [{"ip": "127.0.0.1", "port": 3260}] and read.outs["size_gb"] == 2
    assert provider.diff(iqn, inputs, read.inputs).changes is False

    more = {**inputs, "initiators": ["iqn.2026-11.mammatus:db-1", "iqn.2026-11.mammatus:db-2"]}
    assert provider.diff(iqn, inputs, more).replaces == []
    provider.update(iqn, inputs, more)
    saved = json.loads((work / "saveconfig.json").read_text())
    acls = saved["targets"][0]["tpgs"][0]["node_acls"]
    assert [a["node_wwn"] for a in acls] == ["iqn.2026-11.mammatus:db-1", "iqn.2026-11.mammatus:db-2"]
    assert all(a["mapped_luns"] for a in acls)   # the LUN mapped to the new ACL too

    provider.delete(iqn, more)
    assert provider.read(iqn, more).id is None
    assert not (work / "db-data.img").exists()    # retain_file: false
    provider.delete(iqn, more)                     # already gone: no error
    calls = (work / "calls.log").read_text().splitlines()
    assert calls[0].startswith("set global auto_add_mapped_luns=true")
    assert f"/iscsi delete {iqn}" in calls


def test_a_failing_command_stops_the_batch(host):
    work = host["work"]
    provider = VolumeProvider()
    props = {"name": "bad", "iqn": target_iqn("bad", "s"), "file": str(work / "bad.img"), "size_gb": 1,
             "initiators": [], "portals": [], "connection": host["connection"],
             "targetcli": str(work / "targetcli"), "saveconfig": str(work / "saveconfig.json")}
    provider.create(props)
    with pytest.raises(RuntimeError, match="already exists"):
        provider.create(props)      # the target exists: targetcli fails, set -e stops the batch
    log = (work / "calls.log").read_text().splitlines()
    assert log.count(f"/iscsi create {props['iqn']}") == 2 and log[-1].startswith("/iscsi create")


DB1, DB2 = "iqn.2026-11.mammatus:db-1", "iqn.2026-11.mammatus:db-2"
PW1, PW2, PW3 = "Pw1Pw1Pw1Pw1Pw1Pw1Pw1Pw1", "Pw2Pw2Pw2Pw2Pw2Pw2Pw2Pw2", "Pw3Pw3Pw3Pw3Pw3Pw3Pw3Pw3"


def chap_inputs(host, provider, **chap):
    work = host["work"]
    return provider.check({}, {
        "name": "db-data", "iqn": target_iqn("db-data", "storage-1"),
        "file": str(work / "db-data.img"), "size_gb": 1, "initiators": sorted(chap),
        "chap": {i: {"userid": i, "password": pw} for i, pw in chap.items()},
        "portals": [{"ip": "127.0.0.1", "port": 3260}], "connection": host["connection"],
        "retain_file": False, "targetcli": str(work / "targetcli"),
        "saveconfig": str(work / "saveconfig.json")}).inputs


def acls(work) -> dict:
    saved = json.loads((work / "saveconfig.json").read_text())
    return {a["node_wwn"]: a for a in saved["targets"][0]["tpgs"][0]["node_acls"]}


def test_chap_reaches_targetcli_on_stdin_only_and_a_new_password_is_an_update(host):
    work = host["work"]
    # The provider as Pulumi runs it: pickled with dill, unpickled in the provider process.
    provider = dill.loads(dill.dumps(VolumeProvider()))
    inputs = chap_inputs(host, provider, **{DB1: PW1})
    iqn = inputs["iqn"]
    provider.create(inputs)
    saved = json.loads((work / "saveconfig.json").read_text())
    assert saved["targets"][0]["tpgs"][0]["attributes"]["authentication"] == 1
    assert acls(work)[DB1]["chap_userid"] == DB1 and acls(work)[DB1]["chap_password"] == PW1
    assert provider.diff(iqn, inputs, provider.read(iqn, inputs).inputs).changes is False

    rotated = chap_inputs(host, provider, **{DB1: PW2, DB2: PW3})
    assert provider.diff(iqn, inputs, rotated).replaces == []
    provider.update(iqn, inputs, rotated)
    assert {i: a["chap_password"] for i, a in acls(work).items()} == {DB1: PW2, DB2: PW3}
    assert provider.read(iqn, rotated).outs["chap"] == rotated["chap"]

    # No password was ever an argument; each batch came from a 0600 regular file in a private
    # home, which is gone with the log that recorded it.
    calls = (work / "calls.log").read_text()
    assert not any(pw in calls for pw in (PW1, PW2, PW3))
    assert calls.splitlines().index(f"/iscsi/{iqn}/tpg1 set attribute authentication=1 "
                                    "generate_node_acls=0") < \
        next(i for i, c in enumerate(calls.splitlines()) if "/portals create" in c)
    runs = [json.loads(line) for line in (work / "calls.log.stdin").read_text().splitlines()]
    assert len(runs) == 2 and all(r["regular"] and r["mode"] == 0o600 for r in runs)
    assert all(r["home"].startswith("/run/mammatus-targetcli.") for r in runs)
    assert not any(Path(r["home"]).exists() for r in runs)
    assert (work / "saveconfig.json").stat().st_mode & 0o777 == 0o600
    provider.delete(iqn, rotated)


def test_credentials_targetcli_did_not_take_fail_the_update_without_showing_a_password(host):
    work = host["work"]
    provider = VolumeProvider()
    inputs = chap_inputs(host, provider, **{DB1: PW1})
    provider.create(inputs)
    refused = "iqn.2026-11.mammatus:refused-1"
    more = chap_inputs(host, provider, **{DB1: PW1, refused: PW2})
    with pytest.raises(RuntimeError) as err:
        provider.update(inputs["iqn"], inputs, more)
    message = str(err.value)
    assert f"did not set the CHAP credentials of {refused}" in message
    assert "No such path" in message and PW1 not in message and PW2 not in message
    assert refused in acls(work) and "chap_userid" not in acls(work)[refused]
