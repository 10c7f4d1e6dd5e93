import json

from components.render import consul, vault


def test_consul_server_bootstraps_with_its_peers():
    config = json.loads(consul.server_config("c1", "10.0.0.2", ["10.0.0.2", "10.0.0.3"], "k==",
                                             "home", "consul"))
    assert config["server"] is True and config["bootstrap_expect"] == 2
    assert config["retry_join"] == ["10.0.0.3"] and config["encrypt"] == "k=="
    assert config["ui_config"] == {"enabled": True}


def test_consul_agent_has_no_secret_without_a_key():
    config = json.loads(consul.agent_config(["10.0.0.2"], None, "home", "consul"))
    assert config["server"] is False and "encrypt" not in config
    assert config["retry_join"] == ["10.0.0.2"]


def test_vault_server_raft_and_tls_listener():
    paths = vault.VaultPaths()
    config = json.loads(vault.server_config(paths, "control", "https://vault.mammatus:8200",
                                            "https://10.0.0.2:8201"))
    assert config["storage"]["raft"] == {"path": paths.data_dir, "node_id": "control"}
    listener = config["listener"][0]["tcp"]
    assert listener["tls_cert_file"] == paths.tls_cert and listener["cluster_address"] == "0.0.0.0:8201"


def test_vault_agent_auto_auth_and_trusted_root():
    config = json.loads(vault.agent_config("https://vault.mammatus:8200", "/etc/ssl/root.crt"))
    assert config["vault"]["ca_cert"] == "/etc/ssl/root.crt"
    assert config["auto_auth"]["method"][0]["type"] == "approle"
    assert config["auto_auth"]["sink"][0]["file"]["config"]["path"] == vault.TOKEN_SINK
