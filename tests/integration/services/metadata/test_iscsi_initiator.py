"""An instance's iSCSI initiator, configured through the real metadata service as the
BlockStorage layer sets it up (components/render/iscsi.py for the home stack's volumes), and read
back by the real open-iscsi tools (Debian's iscsiadm 2.1.8, tools/setup/storage.sh).

Vendor-data writes the instance's initiator name and a node record per volume, with nothing
secret; the installer fetches the CHAP password from /mammatus/v1/iscsi-credentials (within a
session, the instance's alone) into each record, a new 0600 file. iscsiadm, in a private mount
namespace with /etc/iscsi bound to the instance's, must see the record as one it logs in with:
node.startup automatic, CHAP as the instance's IQN with that password.

No login happens and no target answers: LIO cannot run on this kernel (no configfs, see
dynamic_providers/targetcli.py), and the agents script logs in only outside MAMMATUS_ROOT.
"""

from __future__ import annotations

import email
import json
import os
import shlex
import shutil
import subprocess

import pytest

from components.render import iscsi
from services.metadata import vendordata
from tests.integration.services.metadata.conftest import DB1, WEB1
from tests.support.netlab import stack_spec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("iscsiadm") is None or shutil.which("unshare") is None,
                       reason="needs open-iscsi's iscsiadm (tools/setup/storage.sh) and unshare"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a private mount namespace needs root"),
]

TARGET = "iqn.2026-11.mammatus:storage-2.media"   # the home stack's `media`, for web-1
PORTAL = "10.0.0.22:3260"
INITIATOR = "iqn.2026-11.mammatus:web-1"
PASSWORD = "Xk3v9QpL2mZr7TfW1bNc8HdY"
CREDENTIALS = vendordata.ISCSI_CREDENTIALS_PATH
CACHE1 = {"name": "cache-1", "macs": ["02:00:00:00:00:04"]}    # no volume names it


@pytest.fixture
def served(make_server):
    settings = iscsi.metadata_settings(stack_spec("home"))
    web = {**WEB1, "credentials": {"iscsi": {"media": PASSWORD}}}
    # The installer asks from 127.0.0.1: that address is web-1's lease here.
    return make_server(config={"vendor_data": {"iscsi": settings}}, instances=[web, DB1, CACHE1],
                       leases=["0 02:00:00:00:00:02 127.0.0.1 web-1 *",
                               "0 02:00:00:00:00:03 127.0.0.3 db-1 *",
                               "0 02:00:00:00:00:04 127.0.0.4 cache-1 *"])


def agents_script(served, source: str) -> str:
    reply = served.get(source, "/nocloud/vendor-data")
    assert reply.status == 200, reply.body
    parts = {p.get_filename(): p.get_payload(decode=True).decode()
             for p in email.message_from_string(reply.body).get_payload()}
    return parts["mammatus-agents.sh"]


def chap_step(script: str, root, url: str) -> list[str]:
    """The script's CHAP step as it would run on the instance, with the instance's root at
    `root` and the metadata service at `url` (the only changes)."""
    line = next(line for line in script.splitlines() if " chap " in line)
    argv = shlex.split(line.split("then ", 1)[1].rsplit("; fi", 1)[0])
    python, installer, mode, _, path, *records = argv
    assert (python, installer, mode, path) == ("python3", vendordata.INSTALLER, "chap", CREDENTIALS)
    moved = [f"{name}={root}{record}" for name, record in (r.split("=", 1) for r in records)]
    return ["/usr/bin/python3", f"{root}{installer}", mode, url, path, *moved]


def iscsiadm(root, *args: str) -> str:
    """iscsiadm as on the instance: its /etc/iscsi is the instance's, in a mount namespace of
    its own (this machine's stays as it is)."""
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount --bind "$1" /etc/iscsi && shift && exec iscsiadm "$@"',
         "sh", str(root / "etc/iscsi"), *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def record_of(text: str) -> dict:
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


def test_the_instances_node_record_holds_chap_and_iscsiadm_reads_it(served, tmp_path):
    root = tmp_path / "instance"
    script = agents_script(served, "127.0.0.1")
    assert PASSWORD not in script
    run = subprocess.run(["sh", "-c", script], env={"MAMMATUS_ROOT": str(root),
                                                   "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert (root / "etc/iscsi/initiatorname.iscsi").read_text() == f"InitiatorName={INITIATOR}\n"

    fetch = subprocess.run(chap_step(script, root, served.url), capture_output=True, text=True,
                           timeout=90)
    assert fetch.returncode == 0, fetch.stderr
    record_file = root / f"etc/iscsi/nodes/{TARGET}/10.0.0.22,3260,1/default"
    assert record_file.stat().st_mode & 0o777 == 0o600

    assert iscsiadm(root, "-m", "node").split() == [f"{PORTAL},1", TARGET]
    shown = record_of(iscsiadm(root, "-m", "node", "-T", TARGET, "-p", PORTAL))
    assert shown["node.name"] == TARGET and shown["node.tpgt"] == "1"
    assert shown["node.conn[0].address"] == "10.0.0.22" and shown["node.conn[0].port"] == "3260"
    assert shown["node.startup"] == "automatic"
    assert shown["node.session.auth.authmethod"] == "CHAP"
    assert shown["node.session.auth.username"] == INITIATOR
    assert shown["node.session.auth.password"] == "********"   # iscsiadm hides it ...
    secret = record_of(iscsiadm(root, "-m", "node", "-T", TARGET, "-p", PORTAL, "--show"))
    assert secret["node.session.auth.password"] == PASSWORD      # ... unless asked to show it
    assert PASSWORD not in served.log()


def test_an_instance_without_volumes_gets_no_initiator(served):
    assert "iscsi" in agents_script(served, "127.0.0.3")        # db-1: the volume db-data
    assert "iscsi" not in agents_script(served, "127.0.0.4")


def test_the_chap_password_is_the_instances_alone_within_a_session(served):
    token = served.token("127.0.0.1")
    reply = served.get("127.0.0.1", CREDENTIALS, X_aws_ec2_metadata_token=token)
    assert reply.status == 200 and json.loads(reply.body) == {"media": PASSWORD}
    assert served.get("127.0.0.1", CREDENTIALS).status == 401
    other = served.token("127.0.0.4")
    got = served.get("127.0.0.4", CREDENTIALS, X_aws_ec2_metadata_token=other)
    assert got.status == 404 and PASSWORD not in got.body
    assert served.get("127.0.0.9", CREDENTIALS).status == 403
