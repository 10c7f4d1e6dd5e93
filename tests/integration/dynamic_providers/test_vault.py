"""CONTRACT TEST of the Vault provider (dynamic_providers/vault.py) and the instance's agent
config, against the recorded-contract stand-in of Vault's HTTP API (tests/support/
vault_contract.py), NOT Vault: Vault cannot be built from the modules reachable here. The stand-in
serves HTTPS with a test CA's certificate; the provider trusts that root alone, as it does the
cloud's.

What runs for real: hvac (the locked version) making its requests, the providers after a dill
round-trip, and the agent's AppRole auto-auth steps as Vault Agent takes them, driven by the
rendered agent config (components/render/vault.py) and the credential files written 0600."""

from __future__ import annotations

import json
import os
import stat

import dill
import pytest
import requests

from components.render import vault as render
from dynamic_providers import vault as provider
from dynamic_providers.vault import (AppRoleProvider, AuthMethodProvider, PolicyProvider,
                                     SecretIdProvider, VaultError)
from tests.support.vault_contract import running_vault

pytestmark = pytest.mark.integration

POLICY = 'path "secret/data/web/*" {\n  capabilities = ["read"]\n}\n'


@pytest.fixture
def vault(tmp_path):
    with running_vault(tmp_path) as server:
        yield server


def conn(vault, **over) -> dict:
    return {"address": vault.url, "ca_pem": vault.ca_pem, "token": vault.root_token, **over}


def pickled(p):
    return dill.loads(dill.dumps(p, recurse=True))


def checked(p, props: dict) -> dict:
    result = p.check({}, props)
    assert result.failures == []
    return result.inputs


def role_props(vault, **over) -> dict:
    return {"connection": conn(vault), "mount": "approle", "name": "web",
            "token_policies": ["web"], "token_ttl": "1h", "token_max_ttl": "24h",
            "secret_id_ttl": "0", "secret_id_num_uses": 0, **over}


def apply_spec(vault) -> dict:
    """AppRole, a policy, a role and one instance's credentials, as the Secrets layer orders them."""
    method = pickled(AuthMethodProvider())
    made = method.create(checked(method, {"connection": conn(vault), "path": "approle",
                                          "type": "approle", "description": "agents"}))
    policy = pickled(PolicyProvider())
    policy.create(checked(policy, {"connection": conn(vault), "name": "web", "policy": POLICY}))
    role = pickled(AppRoleProvider())
    role.create(checked(role, role_props(vault)))
    secret = pickled(SecretIdProvider())
    minted = secret.create(checked(secret, {"connection": conn(vault), "mount": "approle",
                                            "role": "web", "instance": "web-1",
                                            "wrap_ttl": "1h"}))
    return {"method": made, "minted": minted}


def agent_login(root, config: dict, address: str, ca_file: str) -> dict:
    """What Vault Agent's approle auto-auth does with its config (command/agentproxyshared/auth/
    approle): read the role-id file; read the secret-id file; since secret_id_response_wrapping_
    path is set, look the wrapping token up (GET sys/wrapping/lookup, the token as the client
    token) and refuse it unless it was made at that path; unwrap it; remove the file; log in."""
    method = config["auto_auth"]["method"][0]
    settings = method["config"]
    role_id = open(root + settings["role_id_file_path"]).read().strip()
    secret_file = root + settings["secret_id_file_path"]
    wrapping = open(secret_file).read().strip()
    base = address + "/v1/"   # the stand-in's, where the agent would use config["vault"]
    lookup = requests.get(base + "sys/wrapping/lookup", headers={"X-Vault-Token": wrapping},
                          verify=ca_file, timeout=10)
    lookup.raise_for_status()
    if lookup.json()["data"]["creation_path"] != settings["secret_id_response_wrapping_path"]:
        raise AssertionError("SECURITY: unable to validate wrapping token creation path")
    unwrapped = requests.post(base + "sys/wrapping/unwrap", headers={"X-Vault-Token": wrapping},
                              verify=ca_file, timeout=10)
    unwrapped.raise_for_status()
    if settings.get("remove_secret_id_file_after_reading", True):
        os.remove(secret_file)
    secret_id = unwrapped.json()["data"]["secret_id"]
    login = requests.post(base + method["mount_path"] + "/login",
                          json={"role_id": role_id, "secret_id": secret_id},
                          verify=ca_file, timeout=10)
    login.raise_for_status()
    return {"secret_id": secret_id, **login.json()["auth"]}


def write_credentials(root: str, role_id: str, wrapped: str) -> None:
    for f in render.credential_files(role_id, wrapped):
        os.makedirs(os.path.dirname(root + f.path), exist_ok=True)
        fd = os.open(root + f.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, int(f.mode, 8))
        with os.fdopen(fd, "w") as out:
            out.write(f.content)


def test_the_wrapped_secret_id_unwraps_once_to_a_secret_id_that_logs_in(vault, tmp_path):
    minted = apply_spec(vault)["minted"]
    outs = minted.outs
    assert minted.id == outs["secret_id_accessor"]
    assert outs["wrapping_token"].startswith("hvs.") and outs["role_id"]
    assert outs["wrap_expires"].endswith("Z")
    root = str(tmp_path / "instance")
    write_credentials(root, outs["role_id"], outs["wrapping_token"])
    for f in render.credential_files("x", "y"):
        assert stat.S_IMODE(os.stat(root + f.path).st_mode) == 0o600
    ca_file = tmp_path / "root.pem"
    ca_file.write_text(vault.ca_pem)
    config = json.loads(render.agent_config(render.vault_url("control.mammatus"), "web"))

    auth = agent_login(root, config, vault.url, str(ca_file))
    assert auth["token_policies"] == ["default", "web"] and auth["lease_duration"] == 3600
    assert auth["metadata"] == {"role_name": "web", "instance": "web-1"}
    assert not os.path.exists(root + render.SECRET_ID_FILE)   # spent, and removed
    # Single use: the same wrapping token does not unwrap again.
    write_credentials(str(tmp_path / "again"), outs["role_id"], outs["wrapping_token"])
    with pytest.raises(requests.HTTPError, match="400"):
        agent_login(str(tmp_path / "again"), config, vault.url, str(ca_file))


def test_an_agent_for_another_role_refuses_the_token(vault, tmp_path):
    outs = apply_spec(vault)["minted"].outs
    root = str(tmp_path / "instance")
    write_credentials(root, outs["role_id"], outs["wrapping_token"])
    ca_file = tmp_path / "root.pem"
    ca_file.write_text(vault.ca_pem)
    config = json.loads(render.agent_config(vault.url, "db"))
    with pytest.raises(AssertionError, match="creation path"):
        agent_login(root, config, vault.url, str(ca_file))


def test_the_hvac_calls_are_vaults_documented_requests(vault):
    apply_spec(vault)
    calls = [(c["method"], c["path"], c["wrap_ttl"]) for c in vault.state.calls
             if c["path"] != "sys/seal-status"]
    assert calls == [
        ("GET", "sys/auth", None),                       # is approle/ there already?
        ("POST", "sys/auth/approle", None),              # enable it
        ("GET", "sys/auth", None),                       # its accessor
        ("PUT", "sys/policies/acl/web", None),           # PUT and POST are synonyms
        ("POST", "auth/approle/role/web", None),
        ("GET", "auth/approle/role/web/role-id", None),
        ("POST", "auth/approle/role/web/secret-id", "1h"),   # wrapped: X-Vault-Wrap-TTL
    ]
    # Every call but the seal status carried the operator token and reached a handler.
    assert vault.paths().count("sys/seal-status") == 4   # each create waits for unsealed
    assert vault.state.mounts["approle/"]["description"] == "agents"
    assert vault.state.roles["web"].params["token_policies"] == ["web"]
    assert vault.state.roles["web"].params["token_ttl"] == 3600


def test_reads_and_diffs_see_only_real_change(vault):
    apply_spec(vault)
    role = pickled(AppRoleProvider())
    props = checked(role, role_props(vault))
    read = role.read("web", props)
    assert read.id == "web" and role.diff("web", props, read.inputs).changes is False
    # Changed by hand in Vault: read shows it, and the diff is an update that sets it back.
    vault.state.roles["web"].params["token_ttl"] = 60
    drifted = role.read("web", props)
    assert drifted.inputs["token_ttl"] == "60s"
    plan = role.diff("web", drifted.inputs, props)
    assert plan.changes and plan.replaces == []
    role.update("web", drifted.inputs, props)
    assert vault.state.roles["web"].params["token_ttl"] == 3600
    # Another role name is another role.
    assert role.diff("web", props, {**props, "name": "web2"}).replaces == ["name"]

    policy = pickled(PolicyProvider())
    pprops = checked(policy, {"connection": conn(vault), "name": "web", "policy": POLICY})
    assert policy.diff("web", pprops, policy.read("web", pprops).inputs).changes is False
    newer = {**pprops, "policy": POLICY.replace("read", "list")}
    assert policy.diff("web", pprops, newer).replaces == []
    policy.update("web", pprops, newer)
    assert vault.state.policies["web"] == newer["policy"]

    secret = pickled(SecretIdProvider())
    sprops = checked(secret, {"connection": conn(vault), "mount": "approle", "role": "web",
                              "instance": "web-1", "wrap_ttl": "1h"})
    minted = secret.create(sprops)
    outs = minted.outs
    assert secret.diff(minted.id, outs, sprops).changes is False
    # A rotated operator token is stored, the credentials kept (no new secret-id).
    rotated = {**sprops, "connection": conn(vault, token="hvs.other")}
    plan = secret.diff(minted.id, outs, rotated)
    assert plan.changes and plan.replaces == []
    kept = secret.update(minted.id, outs, rotated).outs
    assert kept["wrapping_token"] == outs["wrapping_token"]
    # Another Vault is another secret-id; so is another role or instance.
    assert secret.diff(minted.id, outs, {**sprops, "connection": conn(
        vault, address="https://10.0.0.9:8200")}).replaces == ["connection"]
    assert secret.diff(minted.id, outs, {**sprops, "instance": "web-2"}).replaces == ["instance"]


def test_delete_removes_what_it_made_and_read_sees_it_gone(vault, tmp_path):
    made = apply_spec(vault)
    outs = made["minted"].outs
    secret = pickled(SecretIdProvider())
    assert secret.read(made["minted"].id, outs).id == made["minted"].id
    secret.delete(made["minted"].id, outs)
    assert vault.state.roles["web"].secret_ids == {}
    assert secret.read(made["minted"].id, outs).id is None      # the next up mints again
    secret.delete(made["minted"].id, outs)                      # already gone: fine
    # The wrapped secret-id was destroyed: unwrapping still works, logging in does not.
    root = str(tmp_path / "instance")
    write_credentials(root, outs["role_id"], outs["wrapping_token"])
    ca_file = tmp_path / "root.pem"
    ca_file.write_text(vault.ca_pem)
    with pytest.raises(requests.HTTPError, match="400"):
        agent_login(root, json.loads(render.agent_config(vault.url, "web")), vault.url,
                    str(ca_file))

    role = pickled(AppRoleProvider())
    role.delete("web", role_props(vault))
    assert "web" not in vault.state.roles and role.read("web", role_props(vault)).id is None
    policy = pickled(PolicyProvider())
    pprops = {"connection": conn(vault), "name": "web", "policy": POLICY}
    policy.delete("web", pprops)
    assert "web" not in vault.state.policies and policy.read("web", pprops).id is None
    method = pickled(AuthMethodProvider())
    method.delete("approle", made["method"].outs)
    assert "approle/" not in vault.state.mounts
    assert method.read("approle", made["method"].outs).id is None


def test_an_approle_mount_that_was_there_is_adopted_and_left(vault):
    vault.state.mounts["approle/"] = {"type": "approle", "description": "the operator's",
                                      "accessor": "auth_approle_0000", "config": {},
                                      "local": False}
    method = pickled(AuthMethodProvider())
    made = method.create(checked(method, {"connection": conn(vault), "path": "approle",
                                          "type": "approle"}))
    assert made.outs["managed"] is False and made.outs["accessor"] == "auth_approle_0000"
    method.delete("approle", made.outs)
    assert vault.state.mounts["approle/"]["description"] == "the operator's"


def test_a_sealed_vault_stops_up_with_what_to_do(vault):
    vault.seal()
    method = AuthMethodProvider()
    with pytest.raises(VaultError, match="sealed.*Vault: init and unseal"):
        method.create({"connection": conn(vault), "path": "approle", "type": "approle"})
    assert vault.paths() == ["sys/seal-status"]   # nothing was attempted


def test_a_wrong_token_or_another_ca_is_refused(vault):
    policy = PolicyProvider()
    props = {"connection": conn(vault, token="hvs.not-the-operator"), "name": "web",
             "policy": POLICY}
    with pytest.raises(VaultError, match="refused the operator token"):
        policy.create(props)
    from tests.support.pki import make_pki
    with pytest.raises(VaultError, match="not the cloud's"):
        policy.create({**props, "connection": conn(vault, ca_pem=make_pki().root_pem)})


def test_check_refuses_plain_http_and_missing_inputs():
    p = SecretIdProvider()
    result = p.check({}, {"connection": {"address": "http://10.0.0.2:8200", "token": "t"},
                          "mount": "approle", "role": "web", "instance": "", "wrap_ttl": "1h"})
    assert sorted(f.property for f in result.failures) == ["connection", "instance"]
    assert provider.PATIENCE > 0
