"""The provider's targetcli batches as the real targetcli-fb reads them: each line parsed by
configshell-fb's own command-line grammar (what targetcli runs on its arguments, joined, and on
each line of its standard input), and the groups and names they set checked against
targetcli-fb's own definitions (the TPG's attributes, an ACL's auth parameters). Debian's
targetcli-fb (tools/setup/storage.sh) runs with the system Python. No command runs: this
kernel has no configfs/LIO (dynamic_providers/targetcli.py)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from dynamic_providers import targetcli as t

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/usr/lib/python3/dist-packages/configshell_fb").is_dir(),
                       reason="needs Debian's targetcli-fb (tools/setup/storage.sh)"),
]

IQN = t.target_iqn("db-data", "storage-1")
DB1, DB2 = "iqn.2026-11.mammatus:db-1", "iqn.2026-11.mammatus:db-2"

PARSE = r"""
import json, sys, tempfile
from configshell_fb import ConfigShell
from targetcli import ui_target
shell = ConfigShell(tempfile.mkdtemp())
parsed = []
for line in json.load(sys.stdin):
    _, path, command, pparams, kparams = shell._parse_cmdline(line)
    parsed.append({"path": path, "command": command, "pparams": list(pparams),
                   "kparams": dict(kparams)})
print(json.dumps({"parsed": parsed, "tpg_attributes": sorted(ui_target.UITPG.ui_desc_attributes),
                  "auth_params": list(ui_target.auth_params)}))
"""


def parse(lines: list[str]) -> dict:
    run = subprocess.run(["/usr/bin/python3", "-c", PARSE], input=json.dumps(lines),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])   # configshell warns of no prefs before


def props() -> dict:
    return {"name": "db-data", "iqn": IQN, "file": "/var/lib/mammatus/iscsi/db-data.img",
            "size_gb": 50, "initiators": [DB1, DB2],
            "chap": {DB1: {"userid": DB1, "password": "Xk3v9QpL2mZr7TfW1bNc8HdY"},
                     DB2: {"userid": DB2, "password": "q" * 24}},
            "portals": [{"ip": "10.0.0.21", "port": 3260}], "connection": None}


def argv_line(command: str) -> str:
    """What targetcli parses of a command line: its arguments joined by spaces."""
    return " ".join(shlex.split(command)[1:])


def test_the_chap_batch_on_stdin_parses_as_acl_auth_settings():
    lines = t.auth_batch(props()).splitlines()
    got = parse(lines)
    acls = got["parsed"][:2]
    assert [a["path"] for a in acls] == [f"/iscsi/{IQN}/tpg1/acls/{DB1}",
                                         f"/iscsi/{IQN}/tpg1/acls/{DB2}"]
    assert all(a["command"] == "set" and a["pparams"] == ["auth"] for a in acls)
    assert acls[0]["kparams"] == props()["chap"][DB1]     # userid and password, whole
    assert set(acls[0]["kparams"]) <= set(got["auth_params"])
    assert [p["command"] for p in got["parsed"][2:]] == ["saveconfig", "exit"]


def test_the_structural_batch_parses_and_sets_attributes_targetcli_knows():
    commands = [c for c in t.create_batch(props()) if c.startswith("targetcli ")]
    got = parse([argv_line(c) for c in commands])
    attribute = next(p for p in got["parsed"] if p["pparams"] == ["attribute"])
    assert attribute["path"] == f"/iscsi/{IQN}/tpg1" and attribute["command"] == "set"
    assert attribute["kparams"] == {"authentication": "1", "generate_node_acls": "0"}
    assert set(attribute["kparams"]) <= set(got["tpg_attributes"])
    creates = [p for p in got["parsed"] if p["command"] == "create"]
    assert {"path": f"/iscsi/{IQN}/tpg1/acls", "command": "create", "pparams": [DB1],
            "kparams": {}} in creates
    fileio = next(p for p in creates if p["path"] == "/backstores/fileio")
    assert fileio["kparams"]["size"] == "50G" and fileio["kparams"]["sparse"] == "true"
