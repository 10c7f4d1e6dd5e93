"""Vault: the server config (JSON, which Vault reads like HCL) with integrated (raft) storage and
a TLS listener whose certificate step-ca issues, and everything an instance's Vault Agent needs:
its one config (AppRole auto-auth whose secret-id arrives response-wrapped, the cloud's root CA
trusted, a 0600 token sink, a listener on 127.0.0.1 only), its systemd unit, and where the
instance's role-id and wrapped secret-id go. Pure.

This module is the only source of the agent's files: the cloud-wide cloud-config part
(components/render/vendor_data.py) and the metadata service's settings (`metadata_settings`)
are both made from `instance_files`. What is checked: the agent config against Vault Agent's
documented schema (tests/support/vault_agent_schema.py, written from the docs: Vault itself
cannot be built here), the unit by systemd-analyze, and the files end to end against the
recorded-contract Vault stand-in (tests/support/vault_contract.py).

The agent unwraps its secret-id once: a wrapping token is single-use, and the agent deletes the
file after reading it (the default), keeping the secret-id in memory. An instance that is
re-created, or whose agent restarts, needs a new wrapped secret-id (README, "Vault: init and
unseal").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple

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


# ---------------------------------------------------------------- the instance's agent

APPROLE_MOUNT = "approle"          # where the Secrets layer enables AppRole (auth/approle)
AGENT_CONFIG = "/etc/vault.d/agent.json"
AGENT_CA_CERT = "/etc/vault.d/mammatus-root.pem"   # the cloud's root alone, as ca_cert wants
AGENT_UNIT = "/etc/systemd/system/vault-agent.service"
AGENT_LISTEN = "127.0.0.1:8100"
# The agent's state directory (systemd's StateDirectory=vault-agent, 0700): the credentials the
# metadata service hands this instance alone, each 0600 from its first byte.
STATE_DIR = "/var/lib/vault-agent"
ROLE_ID_FILE = f"{STATE_DIR}/role-id"
SECRET_ID_FILE = f"{STATE_DIR}/wrapped-secret-id"
CREDENTIAL_MODE = "0600"
TOKEN_SINK = "/run/vault-agent/token"
TOKEN_SINK_MODE = 0o600


class InstanceFile(NamedTuple):
    path: str
    content: str
    mode: str   # octal text, as cloud-init's write_files `permissions`


def wrapping_path(role: str, mount: str = APPROLE_MOUNT) -> str:
    """The creation path of a wrapped secret-id of `role` (Vault's wrap_info.creation_path):
    the agent unwraps only a token made there."""
    return f"auth/{mount}/role/{role}/secret-id"


def agent_config(vault_addr: str, role: str, ca_cert: str = AGENT_CA_CERT,
                 mount: str = APPROLE_MOUNT) -> str:
    """The agent of an instance with AppRole `role`, in Vault Agent's JSON form.

    Its listener answers on loopback only and does not lend the auto-auth token
    (no api_proxy.use_auto_auth_token): a local process uses Vault with the token it can read
    from the 0600 sink, so only root does."""
    return json.dumps({
        "pid_file": "/run/vault-agent/pid",
        "vault": {"address": vault_addr, "ca_cert": ca_cert, "retry": {"num_retries": 5}},
        "auto_auth": {
            "method": [{"type": "approle", "mount_path": f"auth/{mount}", "config": {
                "role_id_file_path": ROLE_ID_FILE,
                "secret_id_file_path": SECRET_ID_FILE,
                # The file holds a single-use wrapping token: spent once read.
                "remove_secret_id_file_after_reading": True,
                "secret_id_response_wrapping_path": wrapping_path(role, mount)}}],
            "sinks": [{"sink": {"type": "file",
                                "config": {"path": TOKEN_SINK, "mode": TOKEN_SINK_MODE}}}],
        },
        "listener": [{"type": "tcp", "address": AGENT_LISTEN, "tls_disable": True,
                      "require_request_header": True}],
    }, indent=2, sort_keys=True) + "\n"


def agent_unit() -> str:
    """Starts once the credentials are there; `vault` from PATH (HashiCorp's package puts it in
    /usr/bin, a hand install in /usr/local/bin: both in systemd's search path)."""
    return ("[Unit]\nDescription=Vault Agent (Mammatus: this instance's Vault token)\n"
            "After=network-online.target\nWants=network-online.target\n"
            f"ConditionPathExists={AGENT_CONFIG}\nConditionPathExists={ROLE_ID_FILE}\n\n"
            "[Service]\n"
            f"ExecStart=vault agent -config={AGENT_CONFIG}\n"
            "ExecReload=/bin/kill -HUP $MAINPID\n"
            "Restart=on-failure\nRestartSec=5\n"
            "StateDirectory=vault-agent\nStateDirectoryMode=0700\n"
            "RuntimeDirectory=vault-agent\nRuntimeDirectoryMode=0755\nUMask=0077\n"
            "NoNewPrivileges=yes\nPrivateTmp=yes\nProtectSystem=strict\nProtectHome=yes\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


def shared_files(root_pem: str) -> list[InstanceFile]:
    """What every instance with an agent gets alike: the cloud's root and the unit."""
    return [InstanceFile(AGENT_CA_CERT, root_pem.strip() + "\n", "0644"),
            InstanceFile(AGENT_UNIT, agent_unit(), "0644")]


def instance_files(vault_addr: str, root_pem: str, role: str) -> list[InstanceFile]:
    """Every file the agent of an instance with `role` needs besides its credentials. No
    secret: fine for vendor-data, which every process on the instance can read."""
    return [*shared_files(root_pem),
            InstanceFile(AGENT_CONFIG, agent_config(vault_addr, role), "0644")]


def credential_files(role_id: str, wrapped_secret_id: str) -> list[InstanceFile]:
    """The instance's own credentials (CREDENTIAL_MODE, written 0600 from the first byte):
    served to that instance alone, never in vendor-data."""
    return [InstanceFile(ROLE_ID_FILE, role_id + "\n", CREDENTIAL_MODE),
            InstanceFile(SECRET_ID_FILE, wrapped_secret_id + "\n", CREDENTIAL_MODE)]


def metadata_settings(vault_addr: str, root_pem: str, roles: Iterable[str],
                      credentials: bool) -> dict:
    """The metadata service's `vendor_data.vault` section for the agent above: the files per
    role, rendered here (the service's bundle carries services/ alone), and whether the
    inventory holds each instance's credentials ({role, role_id, wrapped_secret_id})."""
    return {
        "address": vault_addr, "ca_cert": AGENT_CA_CERT, "auth_mount": APPROLE_MOUNT,
        "files": {role: [f._asdict() for f in instance_files(vault_addr, root_pem, role)]
                  for role in sorted(set(roles))},
        "credential_paths": {"role_id": ROLE_ID_FILE, "wrapped_secret_id": SECRET_ID_FILE,
                             "mode": CREDENTIAL_MODE},
        "credentials": credentials,
    }


# ---------------------------------------------------------------- policies

def policy_hcl(rules: Mapping[str, Iterable[str]]) -> str:
    """An ACL policy of path rules ({path: [capability, …]}) in Vault's HCL, paths in order."""
    blocks = [f"path {json.dumps(path)} {{\n  capabilities = {json.dumps(list(caps))}\n}}\n"
              for path, caps in sorted(rules.items())]
    return "\n".join(blocks)
