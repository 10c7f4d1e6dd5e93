"""open-iscsi in instances through vendor-data: the initiator name and a node record per volume
(nothing secret), the CHAP password fetched at boot into each record by the installer."""

import dataclasses
import http.server
import json
import subprocess
import sys
import threading

import pytest

from services.metadata import vendordata
from services.metadata.config import ConfigError, parse_config

from .helpers import DB, ident

TARGET = "iqn.2026-11.lab.example:store-1.web-data"
INITIATOR = "iqn.2026-11.lab.example:web-1"
ISCSI = {"cloud": {"name": "lab", "domain": "lab.example"}, "vendor_data": {"iscsi": {
    "credentials": True,
    "initiators": {"web-1": {"name": INITIATOR, "nodes": [
        {"volume": "web-data", "target": TARGET, "address": "10.0.0.3", "port": 3260,
         "username": INITIATOR}]}}}}}
RECORD = f"/etc/iscsi/nodes/{TARGET}/10.0.0.3,3260,1/default"
PASSWORD = "Xk3v9QpL2mZr7TfW1bNc8HdY"


def web():
    me = ident()
    return dataclasses.replace(me, instance=dataclasses.replace(me.instance, credentials=(
        ("iscsi", (("web-data", PASSWORD),)),)))


def test_the_instance_gets_its_initiator_name_and_a_record_per_volume(tmp_path):
    config = parse_config(json.dumps(ISCSI))
    script = vendordata.agents_script(config, web())
    run = subprocess.run(["sh", "-c", script], env={"MAMMATUS_ROOT": str(tmp_path),
                                                   "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "etc/iscsi/initiatorname.iscsi").read_text() == f"InitiatorName={INITIATOR}\n"
    record = dict(line.split(" = ", 1) for line in
                  (tmp_path / RECORD.lstrip("/")).read_text().splitlines()
                  if not line.startswith("#"))
    assert record["node.name"] == TARGET and record["node.tpgt"] == "1"
    assert record["node.conn[0].address"] == "10.0.0.3" and record["node.conn[0].port"] == "3260"
    assert record["node.startup"] == "automatic"
    assert record["node.session.auth.authmethod"] == "CHAP"
    assert record["node.session.auth.username"] == INITIATOR
    assert "node.session.auth.password" not in record      # only the installer adds it
    marker = json.loads((tmp_path / "var/lib/mammatus/vendor-data.json").read_text())
    assert marker["services"] == ["iscsi"]
    # Under MAMMATUS_ROOT nothing is fetched, nothing logs in.
    assert not run.stdout and "iscsiadm" not in run.stderr


def test_the_password_is_fetched_into_the_records_never_written_by_the_script():
    config = parse_config(json.dumps(ISCSI))
    script = vendordata.agents_script(config, web())
    assert PASSWORD not in script
    assert (f"install-agent.py chap http://169.254.169.254 /mammatus/v1/iscsi-credentials "
            f"web-data={RECORD}; fi") in script
    login = next(line for line in script.splitlines() if "--loginall" in line)
    assert login.startswith('if [ -z "$R" ] && command -v iscsiadm')
    assert "iscsiadm -m node --loginall=automatic" in login
    # The chap step comes after the record is written, the login after both.
    lines = script.splitlines()
    written = next(i for i, line in enumerate(lines) if line.endswith(f'"$R{RECORD}"'))
    chap = next(i for i, line in enumerate(lines) if " chap " in line)
    assert written < chap < lines.index(login)


def test_an_instance_without_volumes_gets_no_iscsi():
    config = parse_config(json.dumps(ISCSI))
    other = ident(DB)
    assert not any(p.startswith("/etc/iscsi") for p, _ in vendordata.agent_files(config, other))
    assert "iscsi" not in vendordata.agents_script(config, other)


@pytest.mark.parametrize("edit, message", [
    (lambda i: i["initiators"]["web-1"].update(name="web-1"), "initiators.web-1.name"),
    (lambda i: i["initiators"]["web-1"].update(nodes=[]), "nodes"),
    (lambda i: i["initiators"]["web-1"]["nodes"].append(i["initiators"]["web-1"]["nodes"][0]),
     "a volume is named twice"),
    (lambda i: i["initiators"]["web-1"]["nodes"][0].update(username="has space"), "username"),
])
def test_bad_iscsi_settings_are_refused(edit, message):
    settings = json.loads(json.dumps(ISCSI))
    edit(settings["vendor_data"]["iscsi"])
    with pytest.raises(ConfigError, match=message):
        parse_config(json.dumps(settings))


class Imds(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"tok")

    def do_GET(self):
        ok = (self.headers.get("X-aws-ec2-metadata-token") == "tok"
              and self.path == vendordata.ISCSI_CREDENTIALS_PATH)
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(json.dumps({"web-data": PASSWORD}).encode() if ok else b"")

    def log_message(self, *args):
        pass


def test_the_installer_writes_the_password_into_a_new_0600_record(tmp_path):
    config = parse_config(json.dumps(ISCSI))
    node = config.vendor_data.iscsi.initiators["web-1"].nodes[0]
    record = tmp_path / "default"
    record.write_text(vendordata.node_record(node) + "\n")
    record.chmod(0o644)
    installer = tmp_path / "install-agent.py"
    installer.write_text(vendordata.INSTALLER_SOURCE)
    server = http.server.HTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for _ in range(2):    # again (a re-run): still one password line
            run = subprocess.run([sys.executable, str(installer), "chap",
                                  f"http://127.0.0.1:{server.server_port}",
                                  vendordata.ISCSI_CREDENTIALS_PATH, f"web-data={record}"],
                                 capture_output=True, text=True, timeout=30)
            assert run.returncode == 0, run.stderr
    finally:
        server.shutdown()
    lines = record.read_text().splitlines()
    assert lines.count(f"node.session.auth.password = {PASSWORD}") == 1
    assert lines[-2:] == [f"node.session.auth.password = {PASSWORD}", "# END RECORD"]
    assert f"node.session.auth.username = {INITIATOR}" in lines
    assert record.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "default.new").exists()
