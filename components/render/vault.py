"""Vault: the server config (JSON, which Vault reads like HCL) with integrated (raft) storage and
a TLS listener whose certificate step-ca issues, and the Vault Agent config instances get
through vendor-data (AppRole auto-auth, token sink, the cloud's root CA trusted). Pure; checked
structurally in tests (Vault is not packaged in Debian bookworm).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.render.paths import HostPaths

PORT = 8200
CLUSTER_PORT = 8201


@dataclass(frozen=True)
class VaultPaths(HostPaths):
    config: str = "/etc/mammatus/vault/vault.json"
    tls_cert: str = "/etc/mammatus/vault/tls/vault.crt"
    tls_key: str = "/etc/mammatus/vault/tls/vault.key"
    data_dir: str = "/var/lib/mammatus/vault/raft"


def vault_url(host: str, port: int = PORT) -> str:
    return f"https://{host}:{port}"


def server_config(paths: VaultPaths, node_id: str, api_addr: str, cluster_addr: str,
                  listen: str = f"0.0.0.0:{PORT}", cluster_port: int = CLUSTER_PORT) -> str:
    return json.dumps({
        "ui": True,
        "disable_mlock": True,
        "api_addr": api_addr,
        "cluster_addr": cluster_addr,
        "storage": {"raft": {"path": paths.data_dir, "node_id": node_id}},
        "listener": [{"tcp": {
            "address": listen,
            "cluster_address": listen.rsplit(":", 1)[0] + f":{cluster_port}",
            "tls_cert_file": paths.tls_cert,
            "tls_key_file": paths.tls_key,
            "tls_min_version": "tls12",
        }}],
    }, indent=2) + "\n"


# Where the agent finds its AppRole credentials in an instance (written by the instance's own
# user-data or by an operator; never in vendor-data, which every instance shares).
ROLE_ID_FILE = "/etc/vault-agent/role-id"
SECRET_ID_FILE = "/etc/vault-agent/secret-id"
TOKEN_SINK = "/run/vault-agent/token"


def agent_config(vault_addr: str, ca_cert: str) -> str:
    return json.dumps({
        "pid_file": "/run/vault-agent/pid",
        "vault": {"address": vault_addr, "ca_cert": ca_cert, "retry": {"num_retries": 5}},
        "auto_auth": {
            "method": [{"type": "approle", "mount_path": "auth/approle", "config": {
                "role_id_file_path": ROLE_ID_FILE, "secret_id_file_path": SECRET_ID_FILE,
                "remove_secret_id_file_after_reading": False}}],
            "sink": [{"file": {"config": {"path": TOKEN_SINK, "mode": 0o640}}}],
        },
        "api_proxy": {"use_auto_auth_token": True},
        "listener": [{"tcp": {"address": "127.0.0.1:8100", "tls_disable": True}}],
    }, indent=2) + "\n"
