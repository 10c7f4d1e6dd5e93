import email
import json
import subprocess
import tomllib

from services.metadata import vendordata
from services.metadata.config import parse_config

from .helpers import CONFIG, ident


def parts(document: str) -> dict:
    message = email.message_from_string(document)
    assert message.is_multipart()
    return {p.get_filename(): (p.get_content_type(), p.get_payload(decode=True).decode())
            for p in message.get_payload()}


def test_document_has_settings_and_agents():
    found = parts(vendordata.document(CONFIG, ident()))
    assert found["mammatus-settings.cfg"][0] == "text/cloud-config"
    assert found["mammatus-agents.sh"][0] == "text/x-shellscript"
    assert found["mammatus-settings.cfg"][1].startswith("#cloud-config\n")


def test_agents_script_writes_configs(tmp_path):
    script = vendordata.agents_script(CONFIG, ident())
    run = subprocess.run(["sh", "-c", script], env={"MAMMATUS_ROOT": str(tmp_path),
                                                   "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    consul = json.loads((tmp_path / "etc/consul.d/mammatus.json").read_text())
    assert consul["node_name"] == "web-1" and consul["retry_join"] == ["10.0.0.2"]
    assert consul["advertise_addr"] == "10.0.0.10" and consul["datacenter"] == "lab"
    vault = json.loads((tmp_path / "etc/vault.d/agent.json").read_text())
    assert vault["vault"]["address"] == "https://10.0.0.2:8200"
    assert vault["auto_auth"]["method"][0]["config"]["name"] == "web-1"
    telegraf = tomllib.loads((tmp_path / "etc/telegraf/telegraf.conf").read_text())
    assert telegraf["outputs"]["influxdb"][0]["urls"] == ["http://10.0.0.2:8086"]
    assert telegraf["global_tags"]["instance_id"] == "i-0123456789abcdef0"
    assert telegraf["agent"]["hostname"] == "web-1"      # the instance's own name as host
    assert {"cpu", "mem", "disk", "net", "system", "processes"} <= set(telegraf["inputs"])
    marker = json.loads((tmp_path / "var/lib/mammatus/vendor-data.json").read_text())
    assert marker == {"cloud": "lab", "instance_id": "i-0123456789abcdef0", "name": "web-1",
                      "services": ["consul", "vault", "telegraf"]}


def test_without_services_only_the_marker():
    bare = parse_config("cloud: {name: c}")
    files = dict(vendordata.agent_files(bare, ident()))
    assert list(files) == [vendordata.MARKER]
    assert "systemctl" not in vendordata.agents_script(bare, ident())


def test_no_secret_material_in_vendor_data():
    # Vendor-data is world-readable on the instance: it must not carry keys or tokens.
    texts = [vendordata.settings_cloud_config(CONFIG)] + [
        content for _, content in vendordata.agent_files(CONFIG, ident())]
    assert any("retry_join" in t for t in texts)  # the scan below does see the contents
    # (Telegraf's password is only ever the name of a variable its unit's 0600 file sets.)
    texts = [t.replace('password = "${INFLUX_PASSWORD}"', "") for t in texts]
    for word in ("secret_id", "role_id", "encrypt", "password =", "PRIVATE KEY"):
        assert not any(word in t for t in texts)


PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n"


def test_root_ca_is_trusted_and_given_to_vault_agent(tmp_path):
    config = parse_config(json.dumps({"vendor_data": {
        "vault": {"address": "https://10.0.0.2:8200"}, "ca_cert_pem": PEM}}))
    files = dict(vendordata.agent_files(config, ident()))
    assert files[vendordata.CA_PATH] == PEM.strip()
    assert json.loads(files["/etc/vault.d/agent.json"])["vault"]["ca_cert"] == vendordata.CA_PATH
    assert "update-ca-certificates" in vendordata.agents_script(config, ident())


def test_ca_must_be_pem():
    import pytest
    from services.metadata.config import ConfigError
    with pytest.raises(ConfigError, match="ca_cert_pem"):
        parse_config('vendor_data: {ca_cert_pem: "not a cert"}')


PINNED = parse_config("""
cloud: {name: lab, domain: lab.example, region: lab, availability_zone: lab-a, subnet: 10.0.0.0/24}
vendor_data:
  ca_cert_pem: |
    -----BEGIN CERTIFICATE-----
    MIIBszCCAVmgAwIBAgIUQ==
    -----END CERTIFICATE-----
  telegraf:
    influxdb_urls: ["https://10.0.0.2:8086"]
    retention_policy: mammatus
    artifact_url: http://artifacts.lab.example:8070/linux-amd64/telegraf
    sha256: "%s"
    credentials: true
""" % ("ab" * 32))


def test_a_pinned_telegraf_is_installed_from_the_artifact_server_with_its_own_user(tmp_path):
    files = dict(vendordata.agent_files(PINNED, ident()))
    conf = tomllib.loads(files["/etc/telegraf/telegraf.conf"])["outputs"]["influxdb"][0]
    assert conf["username"] == "${INFLUX_USERNAME}" and conf["password"] == "${INFLUX_PASSWORD}"
    assert conf["tls_ca"] == vendordata.CA_PATH and conf["retention_policy"] == "mammatus"
    unit = files["/etc/systemd/system/telegraf.service"]
    assert "EnvironmentFile=/etc/telegraf/mammatus.env" in unit and "DynamicUser=yes" in unit
    script = vendordata.agents_script(PINNED, ident())
    assert (f"install-agent.py binary http://artifacts.lab.example:8070/linux-amd64/telegraf "
            f"{'ab' * 32} /usr/local/bin/telegraf") in script
    assert "install-agent.py credentials http://169.254.169.254 /etc/telegraf/mammatus.env " \
           "/mammatus/v1/telemetry-credentials" in script
    # Under MAMMATUS_ROOT it writes the files and fetches nothing.
    run = subprocess.run(["sh", "-c", script], env={"MAMMATUS_ROOT": str(tmp_path),
                                                   "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "usr/local/lib/mammatus/install-agent.py").exists()
    assert not (tmp_path / "usr/local/bin/telegraf").exists()


def test_the_installer_refuses_a_file_with_another_digest(tmp_path):
    import hashlib
    import sys

    installer = tmp_path / "install-agent.py"
    installer.write_text(vendordata.INSTALLER_SOURCE)
    good = tmp_path / "build"
    good.write_bytes(b"the pinned build")
    sha = hashlib.sha256(b"the pinned build").hexdigest()
    target = tmp_path / "bin" / "telegraf"
    ok = subprocess.run([sys.executable, str(installer), "binary", good.as_uri(), sha, str(target)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert target.read_bytes() == b"the pinned build" and target.stat().st_mode & 0o777 == 0o755
    good.write_bytes(b"something else")
    target.unlink()
    bad = subprocess.run([sys.executable, str(installer), "binary", good.as_uri(), sha, str(target)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "not installed" in bad.stderr and not target.exists()
