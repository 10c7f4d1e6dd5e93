import json

from components.render import vault


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
