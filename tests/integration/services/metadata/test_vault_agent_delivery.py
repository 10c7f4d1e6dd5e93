"""Vault Agent reaches an instance through the real metadata service, as the Secrets layer
configures it: the agent's files for the instance's role in its vendor-data (rendered by
components/render/vault.py, nothing secret), its role-id and response-wrapped secret-id only at
/mammatus/v1/vault-credentials within a session; the agent config the instance receives parses
with Vault Agent's documented schema (tests/support/vault_agent_schema.py, written from the docs:
Vault itself cannot be built here)."""

import email
import json
import subprocess

import pytest

from components.render import vault
from tests.integration.services.metadata.conftest import DB1, WEB1
from tests.support import vault_agent_schema
from tests.support.pki import make_pki

pytestmark = pytest.mark.integration

ADDRESS = "https://control.lab.test:8200"


@pytest.fixture
def served(make_server):
    root = make_pki().root_pem
    settings = vault.metadata_settings(ADDRESS, root, ["web"], credentials=True)
    web = {**WEB1, "credentials": {"vault": {"role": "web", "role_id": "role-id-of-web-1",
                                             "wrapped_secret_id": "hvs.wrapped-s3cret"}}}
    return make_server(config={"vendor_data": {"vault": settings}}, instances=[web, DB1])


def agents_script(served, source: str) -> str:
    reply = served.get(source, "/nocloud/vendor-data")
    assert reply.status == 200, reply.body
    parts = {p.get_filename(): p.get_payload(decode=True).decode()
             for p in email.message_from_string(reply.body).get_payload()}
    return parts["mammatus-agents.sh"]


def test_the_instances_agent_config_arrives_in_vendor_data_and_parses_with_the_schema(served, tmp_path):
    script = agents_script(served, "127.0.0.2")
    run = subprocess.run(["sh", "-c", script], env={"MAMMATUS_ROOT": str(tmp_path),
                                                   "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    config = json.loads((tmp_path / vault.AGENT_CONFIG.lstrip("/")).read_text())
    vault_agent_schema.validate(config)
    method = config["auto_auth"]["method"][0]
    assert method["config"]["secret_id_response_wrapping_path"] == "auth/approle/role/web/secret-id"
    assert config["vault"]["address"] == ADDRESS
    assert (tmp_path / vault.AGENT_CA_CERT.lstrip("/")).read_text().startswith("-----BEGIN CERTIFICATE")
    # It fetches its credentials at boot into the files the agent reads; none is in here.
    assert f"fields http://169.254.169.254 /mammatus/v1/vault-credentials role_id={vault.ROLE_ID_FILE}" in script
    assert "s3cret" not in script and "role-id-of-web-1" not in script


def test_its_credentials_are_its_alone_within_a_session(served):
    token = served.token("127.0.0.2")
    reply = served.get("127.0.0.2", "/mammatus/v1/vault-credentials", X_aws_ec2_metadata_token=token)
    assert reply.status == 200
    assert json.loads(reply.body) == {"role": "web", "role_id": "role-id-of-web-1",
                                      "wrapped_secret_id": "hvs.wrapped-s3cret"}
    assert served.get("127.0.0.2", "/mammatus/v1/vault-credentials").status == 401
    other = served.token("127.0.0.3")
    assert served.get("127.0.0.3", "/mammatus/v1/vault-credentials",
                      X_aws_ec2_metadata_token=other).status == 404


def test_an_instance_without_a_role_gets_no_agent(served):
    assert "vault-agent" not in agents_script(served, "127.0.0.3")
