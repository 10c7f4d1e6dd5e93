"""The Vault server config and the instance's Vault Agent files. The agent config is checked
against Vault Agent's documented schema (tests/support/vault_agent_schema.py: written from the
docs, Vault cannot run here)."""

import copy
import json

import pytest

from components.render import vault
from tests.support import vault_agent_schema as schema

ADDR = "https://control.mammatus:8200"
ROOT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_vault_server_raft_and_tls_listener():
    paths = vault.VaultPaths()
    config = json.loads(vault.server_config(paths, "control", "https://vault.mammatus:8200",
                                            "https://10.0.0.2:8201"))
    assert config["storage"]["raft"] == {"path": paths.data_dir, "node_id": "control"}
    listener = config["listener"][0]["tcp"]
    assert listener["tls_cert_file"] == paths.tls_cert and listener["cluster_address"] == "0.0.0.0:8201"


def agent(role="web"):
    return json.loads(vault.agent_config(ADDR, role))


def test_the_agent_config_parses_with_the_documented_schema():
    config = agent()
    schema.validate(config)
    assert schema.problems(config) == []


def test_approle_auto_auth_unwraps_a_secret_id_made_for_the_instances_role():
    method = agent("db")["auto_auth"]["method"][0]
    assert (method["type"], method["mount_path"]) == ("approle", "auth/approle")
    assert method["config"] == {
        "role_id_file_path": vault.ROLE_ID_FILE, "secret_id_file_path": vault.SECRET_ID_FILE,
        "remove_secret_id_file_after_reading": True,
        "secret_id_response_wrapping_path": "auth/approle/role/db/secret-id"}
    assert agent("web")["auto_auth"]["method"][0]["config"][
        "secret_id_response_wrapping_path"] == "auth/approle/role/web/secret-id"


def test_the_cloud_root_is_trusted_the_token_sink_is_0600_and_the_listener_loopback_only():
    config = agent()
    assert config["vault"] == {"address": ADDR, "ca_cert": vault.AGENT_CA_CERT,
                               "retry": {"num_retries": 5}}
    sink = config["auto_auth"]["sinks"][0]["sink"]
    assert sink == {"type": "file", "config": {"path": vault.TOKEN_SINK, "mode": 0o600}}
    assert [(li["type"], li["address"]) for li in config["listener"]] == [("tcp", "127.0.0.1:8100")]
    # The listener does not lend the token to any local process.
    assert "api_proxy" not in config and "cache" not in config


@pytest.mark.parametrize("break_it", [
    lambda c: c["auto_auth"]["method"][0]["config"].update(secret_id_response_wrap_path="x"),
    lambda c: c["auto_auth"]["method"][0]["config"].pop("role_id_file_path"),
    lambda c: c["auto_auth"]["method"][0]["config"].pop("secret_id_file_path"),
    lambda c: c["auto_auth"]["sinks"][0]["sink"]["config"].update(mode="0600"),
    lambda c: c["listener"][0].update(type="http"),
    lambda c: c["vault"].update(cacert="/x"),
    lambda c: c["auto_auth"].update(method=c["auto_auth"]["method"] * 2),
    lambda c: c.update(listeners=c.pop("listener")),
])
def test_the_schema_refuses_what_vault_agent_would_not_take(break_it):
    config = copy.deepcopy(agent())
    break_it(config)
    with pytest.raises(schema.error_type()):
        schema.validate(config)


def test_an_agent_whose_token_goes_nowhere_is_a_problem():
    config = agent()
    config["auto_auth"].pop("sinks")
    schema.validate(config)
    assert schema.problems(config) == [
        "auto_auth needs a sink, a template or api_proxy.use_auto_auth_token"]


def test_instance_files_hold_no_secret_and_credentials_are_0600():
    files = vault.instance_files(ADDR, ROOT, "web")
    assert {f.path: f.mode for f in files} == {vault.AGENT_CA_CERT: "0644",
                                               vault.AGENT_UNIT: "0644",
                                               vault.AGENT_CONFIG: "0644"}
    assert next(f.content for f in files if f.path == vault.AGENT_CA_CERT) == ROOT
    assert vault.shared_files(ROOT) == files[:2]
    creds = vault.credential_files("role-1", "hvs.wrapped")
    assert [(f.path, f.content, f.mode) for f in creds] == [
        (vault.ROLE_ID_FILE, "role-1\n", "0600"), (vault.SECRET_ID_FILE, "hvs.wrapped\n", "0600")]
    assert not {f.path for f in creds} & {f.path for f in files}


def test_the_unit_waits_for_the_credentials_and_keeps_them_in_its_state_directory():
    unit = vault.agent_unit()
    assert f"ConditionPathExists={vault.ROLE_ID_FILE}" in unit
    assert f"ExecStart=vault agent -config={vault.AGENT_CONFIG}" in unit
    assert vault.ROLE_ID_FILE.startswith(vault.STATE_DIR + "/")
    assert "StateDirectory=vault-agent\nStateDirectoryMode=0700" in unit
    assert vault.TOKEN_SINK.startswith("/run/vault-agent/") and "RuntimeDirectory=vault-agent" in unit


def test_metadata_settings_give_each_role_its_files():
    settings = vault.metadata_settings(ADDR, ROOT, ["web", "db", "web"], credentials=True)
    assert (settings["address"], settings["ca_cert"], settings["auth_mount"]) == (
        ADDR, vault.AGENT_CA_CERT, "approle")
    assert sorted(settings["files"]) == ["db", "web"]
    config = next(f for f in settings["files"]["db"] if f["path"] == vault.AGENT_CONFIG)
    assert json.loads(config["content"]) == agent("db")
    assert settings["credential_paths"] == {"role_id": vault.ROLE_ID_FILE,
                                            "wrapped_secret_id": vault.SECRET_ID_FILE,
                                            "mode": "0600"}
    assert settings["credentials"] is True
    json.dumps(settings)   # the metadata config is YAML/JSON


def test_policy_rules_render_as_hcl():
    text = vault.policy_hcl({"secret/metadata/web/*": ["list"], "secret/data/web/*": ["read"]})
    assert text == ('path "secret/data/web/*" {\n  capabilities = ["read"]\n}\n\n'
                    'path "secret/metadata/web/*" {\n  capabilities = ["list"]\n}\n')
