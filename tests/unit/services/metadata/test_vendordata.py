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
    assert consul["node_meta"]["instance_id"] == "i-0123456789abcdef0" and consul["datacenter"] == "lab"
    # No Vault role in its inventory entry: no agent.
    assert not (tmp_path / "etc/vault.d").exists()
    telegraf = tomllib.loads((tmp_path / "etc/telegraf/telegraf.conf").read_text())
    assert telegraf["outputs"]["influxdb"][0]["urls"] == ["http://10.0.0.2:8086"]
    assert telegraf["global_tags"]["instance_id"] == "i-0123456789abcdef0"
    assert telegraf["agent"]["hostname"] == "web-1"      # the instance's own name as host
    assert {"cpu", "mem", "disk", "net", "system", "processes"} <= set(telegraf["inputs"])
    marker = json.loads((tmp_path / "var/lib/mammatus/vendor-data.json").read_text())
    assert marker == {"cloud": "lab", "instance_id": "i-0123456789abcdef0", "name": "web-1",
                      "services": ["consul", "telegraf"]}


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


def test_root_ca_is_trusted(tmp_path):
    config = parse_config(json.dumps({"vendor_data": {"ca_cert_pem": PEM}}))
    files = dict(vendordata.agent_files(config, ident()))
    assert files[vendordata.CA_PATH] == PEM.strip()
    assert "update-ca-certificates" in vendordata.agents_script(config, ident())


VAULT = {"vendor_data": {"vault": {
    "address": "https://control.lab:8200", "ca_cert": "/etc/vault.d/mammatus-root.pem",
    "files": {"web": [{"path": "/etc/vault.d/agent.json", "content": '{"vault": {}}\n'},
                      {"path": "/etc/vault.d/mammatus-root.pem", "content": PEM}]},
    "credential_paths": {"role_id": "/var/lib/vault-agent/role-id",
                         "wrapped_secret_id": "/var/lib/vault-agent/wrapped-secret-id"},
    "credentials": True}}}


def test_an_instance_with_a_vault_role_gets_its_agent_and_fetches_its_credentials():
    import dataclasses

    config = parse_config(json.dumps(VAULT))
    web = ident()
    web = dataclasses.replace(web, instance=dataclasses.replace(web.instance, credentials=(
        ("vault", (("role", "web"), ("role_id", "r-1"), ("wrapped_secret_id", "w-1"))),)))
    files = dict(vendordata.agent_files(config, web))
    assert files["/etc/vault.d/agent.json"] == '{"vault": {}}'
    script = vendordata.agents_script(config, web)
    assert ("install-agent.py fields http://169.254.169.254 /mammatus/v1/vault-credentials "
            "role_id=/var/lib/vault-agent/role-id "
            "wrapped_secret_id=/var/lib/vault-agent/wrapped-secret-id") in script
    assert "systemctl enable --now vault-agent" in script
    assert "r-1" not in script and "w-1" not in script    # the secrets come by the installer
    # Another role's instance, or one without a role, gets no agent.
    other = dataclasses.replace(web, instance=dataclasses.replace(web.instance, credentials=(
        ("vault", (("role", "db"), ("role_id", "r-2"), ("wrapped_secret_id", "w-2"))),)))
    for instance in (other, ident()):
        assert "/etc/vault.d/agent.json" not in dict(vendordata.agent_files(config, instance))
        assert "vault-agent" not in vendordata.agents_script(config, instance)


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


CONSUL = parse_config("""
cloud: {name: lab}
vendor_data:
  consul:
    agent: {datacenter: lab, retry_join: [10.0.0.2], tls: {defaults: {ca_file: /etc/ssl/certs/ca-certificates.crt}}}
    artifact_url: http://artifacts.lab.example:8070/linux-amd64/consul
    sha256: "%s"
    credentials: true
""" % ("cd" * 32))


def test_a_pinned_consul_agent_is_installed_and_fetches_its_secrets_at_boot(tmp_path):
    files = dict(vendordata.agent_files(CONSUL, ident()))
    agent = json.loads(files["/etc/consul.d/mammatus.json"])
    # The rendered agent config as the Consul layer made it, with this instance's name.
    assert agent["node_name"] == "web-1" and agent["tls"]["defaults"]["ca_file"].endswith(".crt")
    unit = files["/etc/systemd/system/consul.service"]
    assert "LoadCredential=secrets.json:/etc/mammatus/consul/secrets.json" in unit
    assert "-config-file=%d/secrets.json" in unit and "DynamicUser=yes" in unit
    assert "ExecStart=/usr/local/bin/consul agent -config-dir=/etc/consul.d" in unit
    script = vendordata.agents_script(CONSUL, ident())
    assert (f"install-agent.py binary http://artifacts.lab.example:8070/linux-amd64/consul "
            f"{'cd' * 32} /usr/local/bin/consul") in script
    assert ("install-agent.py fields http://169.254.169.254 /mammatus/v1/consul-credentials "
            "config=/etc/mammatus/consul/secrets.json") in script
    # The secrets come only from the metadata service, never in the vendor-data itself.
    assert not any("encrypt" in text for text in files.values())


def test_an_agent_config_without_servers_or_as_a_server_is_refused():
    import pytest
    from services.metadata.config import ConfigError
    with pytest.raises(ConfigError, match="retry_join"):
        parse_config("vendor_data: {consul: {agent: {datacenter: lab}}}")
    with pytest.raises(ConfigError, match="not a server"):
        parse_config("vendor_data: {consul: {agent: {retry_join: [a], server: true}}}")


def test_the_installer_writes_each_field_of_a_secret_to_its_0600_file(tmp_path):
    import http.server
    import sys
    import threading

    class Imds(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"tok")

        def do_GET(self):
            ok = self.headers.get("X-aws-ec2-metadata-token") == "tok"
            self.send_response(200 if ok else 401)
            self.end_headers()
            self.wfile.write(json.dumps({"config": '{"encrypt": "k"}'}).encode() if ok else b"")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    installer = tmp_path / "install-agent.py"
    installer.write_text(vendordata.INSTALLER_SOURCE)
    target = tmp_path / "etc/secrets.json"
    try:
        run = subprocess.run([sys.executable, str(installer), "fields",
                              f"http://127.0.0.1:{server.server_port}",
                              "/mammatus/v1/consul-credentials", f"config={target}"],
                             capture_output=True, text=True, timeout=30)
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stderr
    assert target.read_text() == '{"encrypt": "k"}'
    assert target.stat().st_mode & 0o777 == 0o600


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
