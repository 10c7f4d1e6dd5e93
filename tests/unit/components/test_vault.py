"""The Secrets layer with Pulumi mocks: the server, then (with an operator token) AppRole, the
spec's policies and roles and each instance's credentials, in dependency order; the
credentials as secrets for the metadata inventory; nothing applied without a token."""

import copy
import json

import pulumi
import pytest

from components.ca import CertificateAuthority
from components.render import vault as render
from components.vault import Vault
from stacks.load import parse_spec, stack_file_section
from tests.support.netlab import context, plain
from tests.support.paths import ROOT
from tests.support.pulumi_mocks import RecordingMocks, resolved

DYNAMIC = "pulumi-python:dynamic/mammatus:"


class VaultMocks(RecordingMocks):
    """What Vault would answer for an instance's credentials."""

    def new_resource(self, args):
        name, outputs = super().new_resource(args)
        if args.typ == DYNAMIC + "VaultSecretId":
            outputs.update(role_id=f"role-id-of-{args.inputs['role']}",
                           wrapping_token=f"hvs.wrapped-for-{args.inputs['instance']}")
        return name, outputs


def spec():
    section = copy.deepcopy(stack_file_section(ROOT / "Pulumi.home.yaml"))
    section["vault"] = {
        "policies": {"web": {"secret/data/web/*": ["read"]},
                     "db": 'path "database/creds/app" {\n  capabilities = ["read"]\n}\n'},
        "roles": {"web": {"policies": ["web"], "wrapTtl": "30m"},
                  "db": {"policies": ["db", "web"]}}}
    for inst in section["instances"]:
        inst["vaultRole"] = {"web-1": "web", "web-2": "web", "db-1": "db"}[inst["name"]]
    return parse_spec(section)


def build(token):
    mocks = VaultMocks()
    pulumi.runtime.set_mocks(mocks, project="mammatus", stack="test", preview=False)
    ctx = context(spec())
    built = {}

    @pulumi.runtime.test
    def run():
        ca = CertificateAuthority("ca", ctx).handle
        built["vault"] = Vault("vault", ctx, ca=ca, token=token)
    run()
    return mocks, built["vault"], ctx


@pytest.fixture(scope="module")
def applied():
    return build(pulumi.Output.secret("hvs.operator"))


def test_approle_policies_and_roles_are_applied_after_the_server(applied):
    mocks, _, _ = applied
    method = mocks.named("vault-approle")
    assert (method.inputs["path"], method.inputs["type"]) == ("approle", "approle")
    conn = plain(method.inputs["connection"])
    assert conn["address"] == "https://10.0.0.2:8200" and conn["token"] == "hvs.operator"
    assert "BEGIN CERTIFICATE" in conn["ca_pem"]
    policies = {r.inputs["name"]: r.inputs["policy"] for r in mocks.of_type(DYNAMIC + "VaultPolicy")}
    assert policies == {"web": 'path "secret/data/web/*" {\n  capabilities = ["read"]\n}\n',
                        "db": 'path "database/creds/app" {\n  capabilities = ["read"]\n}\n'}
    roles = {r.inputs["name"]: r.inputs for r in mocks.of_type(DYNAMIC + "VaultAppRole")}
    assert roles["db"]["token_policies"] == ["db", "web"] and roles["db"]["mount"] == "approle"
    assert (roles["web"]["token_ttl"], roles["web"]["secret_id_ttl"]) == ("1h", "0")


def test_each_instance_gets_a_wrapped_secret_id_of_its_role(applied):
    mocks, _, _ = applied
    minted = {r.inputs["instance"]: r.inputs for r in mocks.of_type(DYNAMIC + "VaultSecretId")}
    assert {i: (m["role"], m["wrap_ttl"]) for i, m in minted.items()} == {
        "web-1": ("web", "30m"), "web-2": ("web", "30m"), "db-1": ("db", "1h")}


def test_the_credentials_are_secret_and_keyed_by_instance(applied):
    _, layer, _ = applied
    assert sorted(layer.instance_credentials) == ["db-1", "web-1", "web-2"]
    assert resolved(layer.instance_credentials["db-1"]) == {
        "role": "db", "role_id": "role-id-of-db", "wrapped_secret_id": "hvs.wrapped-for-db-1"}
    assert resolved(layer.credentials)["web-2"]["wrapped_secret_id"] == "hvs.wrapped-for-web-2"

    @pulumi.runtime.test
    def secret():
        return pulumi.Output.all(layer.credentials.is_secret(),
                                 layer.instance_credentials["web-1"].is_secret()).apply(
            lambda flags: assert_all(flags))
    secret()


def assert_all(flags):
    assert all(flags), flags


def test_vendor_data_holds_no_credential_and_the_metadata_settings_one_config_per_role(applied):
    _, layer, ctx = applied
    part = resolved(ctx.vendor_data.parts["vault"])
    paths = {f["path"] for f in part["write_files"]}
    assert paths == {render.AGENT_CA_CERT, render.AGENT_UNIT}
    assert "hvs." not in json.dumps(part)
    settings = resolved(ctx.vendor_data.settings["vault"])
    assert settings == resolved(layer.metadata_settings)
    assert (settings["address"], settings["ca_cert"], settings["auth_mount"]) == (
        "https://control.mammatus:8200", render.AGENT_CA_CERT, "approle")
    # The metadata service takes them as they are.
    from services.metadata.config import Vault as ServiceVault
    ServiceVault.model_validate(settings)
    assert sorted(settings["files"]) == ["db", "web"] and settings["credentials"] is True
    config = next(f for f in settings["files"]["db"] if f["path"] == render.AGENT_CONFIG)
    method = json.loads(config["content"])["auto_auth"]["method"][0]["config"]
    assert method["secret_id_response_wrapping_path"] == "auth/approle/role/db/secret-id"


def test_without_an_operator_token_only_the_server_is_deployed():
    mocks, layer, ctx = build(None)
    assert not [r for r in mocks.resources if r.typ.startswith(DYNAMIC + "Vault")]
    assert mocks.named("vault-server").name == "vault-server"
    assert layer.instance_credentials == {}
    assert resolved(layer.credentials) == {}
    assert resolved(layer.metadata_settings)["credentials"] is False
    assert "vault" in ctx.vendor_data.parts
