"""mammatus:vault (policies, AppRoles) and instances' vaultRole: a broken one fails naming the
key; the operator token (mammatus:vaultToken, a secret) is never part of the spec."""

import copy

import pytest

from stacks.load import SpecError, config_section, parse_spec, stack_file_section
from tests.support.paths import ROOT

VAULT = {"policies": {"web": {"secret/data/web/*": ["read"], "secret/metadata/web/*": ["list"]},
                      "ops": 'path "sys/health" {\n  capabilities = ["read", "sudo"]\n}\n'},
         "roles": {"web": {"policies": ["web", "default"], "tokenTtl": "30m"}}}


def lab(**edits) -> dict:
    section = copy.deepcopy(stack_file_section(ROOT / "Pulumi.lab.yaml"))
    section["vault"] = copy.deepcopy(VAULT)
    section["instances"][0]["vaultRole"] = "web"
    for key, value in edits.items():
        section[key] = value
    return section


def refused(section) -> str:
    with pytest.raises(SpecError) as err:
        parse_spec(section)
    return str(err.value)


def test_a_spec_with_policies_roles_and_an_instance_role_is_valid():
    spec = parse_spec(lab())
    role = spec.vault.roles["web"]
    assert (role.token_ttl, role.token_max_ttl, role.secret_id_ttl, role.wrap_ttl) == (
        "30m", "24h", "0", "1h")
    assert spec.instances[0].vault_role == "web"
    assert spec.vault.policies["web"] == VAULT["policies"]["web"]


def test_an_instance_naming_a_role_that_does_not_exist_fails_naming_its_key():
    section = lab()
    section["instances"][0]["vaultRole"] = "db"
    assert "mammatus:instances[0].vaultRole: role 'db' does not exist (vault.roles: web)" in \
        refused(section)


@pytest.mark.parametrize("edit, message", [
    (lambda v: v["roles"]["web"].update(policies=["nope"]),
     "mammatus:vault.roles.web.policies: policy 'nope' does not exist"),
    (lambda v: v["roles"]["web"].update(tokenTtl="2d", tokenMaxTtl="1d"),
     "mammatus:vault.roles.web.tokenTtl: 2d is longer than tokenMaxTtl 1d"),
    (lambda v: v["roles"]["web"].update(tokenTtl="1 hour"),
     "mammatus:vault.roles.web.tokenTtl: String should match pattern"),
    (lambda v: v["roles"]["web"].update(wrapTtl="0"),
     "mammatus:vault.roles.web.wrapTtl: String should match pattern"),
    (lambda v: v["policies"].update(root='path "x" { capabilities = ["read"] }'),
     "mammatus:vault.policies.root: root is Vault's built-in policy"),
    (lambda v: v["policies"]["web"].update({"secret/x": ["read", "write"]}),
     "mammatus:vault.policies.web.secret/x: capabilities are some of create, read"),
    (lambda v: v["policies"].update(empty=""),
     "mammatus:vault.policies.empty: is empty"),
    (lambda v: v["roles"].update(Web={"policies": ["web"]}),
     "mammatus:vault.roles.Web: a role name is a DNS label"),
    (lambda v: v["roles"]["web"].update(policy=["web"]),
     "mammatus:vault.roles.web.policy: unknown key"),
])
def test_a_broken_vault_section_fails_naming_its_key(edit, message):
    section = lab()
    edit(section["vault"])
    assert message in refused(section)


def test_policies_and_roles_need_the_vault_server():
    section = lab()
    section["placement"] = {k: v for k, v in section["placement"].items() if k != "vault"}
    assert "mammatus:vault: policies and roles are applied to the cloud's Vault: set " \
           "placement.vault" in refused(section)


def test_the_operator_token_is_a_secret_key_and_not_part_of_the_spec():
    section = config_section({"mammatus:runDir": "/srv/m", "mammatus:vaultToken": "hvs.secret"})
    assert section == {"runDir": "/srv/m"}
    assert parse_spec(section).run_dir == "/srv/m"
