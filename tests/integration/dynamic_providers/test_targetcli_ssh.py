"""CONTRACT TEST of the targetcli provider over a real SSH connection (a private sshd on
loopback), against a FAKE targetcli: this kernel has no configfs/LIO, so real targetcli cannot
run (see dynamic_providers/targetcli.py). The fake below models just the targetcli-fb commands
the provider's batches use (set global, backstores/fileio create|delete, iscsi create|delete,
luns/portals/acls create|delete, ls, saveconfig) on a state kept in rtslib-fb's saveconfig.json
format, rejecting anything else, so the test checks that the batches run as one `set -e` script
over SSH and that what `saveconfig` writes reads back as the volume that was asked for.
"""

from __future__ import annotations

import json
import stat

import pytest

from dynamic_providers.targetcli import VolumeProvider, target_iqn
from tests.support.sshd import running_sshd

pytestmark = pytest.mark.integration

FAKE = r'''#!/usr/bin/env python3
import json, os, sys
STATE, SAVE, LOG = __STATE__, __SAVE__, __LOG__
with open(LOG, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
state = json.load(open(STATE)) if os.path.exists(STATE) else {"fabric_modules": [], "storage_objects": [], "targets": []}
args = sys.argv[1:]
kv = dict(a.split("=", 1) for a in args if "=" in a)
def target(iqn):
    return next((t for t in state["targets"] if t["wwn"] == iqn), None)
def fail(msg):
    print(msg, file=sys.stderr); sys.exit(1)
path, cmd = (args + ["", ""])[:2]
if path == "set" and cmd == "global":
    pass
elif path == "saveconfig":
    json.dump(state, open(SAVE, "w"), indent=2)
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
    state["targets"].append({"fabric": "iscsi", "wwn": args[2], "tpgs": [{"tag": 1, "enable": True,
        "luns": [], "portals": [], "node_acls": [], "attributes": {}, "parameters": {}}]})
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
else:
    fail("fake targetcli: unsupported command " + " ".join(args))
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
