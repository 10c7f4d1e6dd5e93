import json

import pytest

from tests.support.pulumi_mocks import resolved

from components.ca import CertificateAuthority
from components.certificates import issue_certificate
from components.render import step_ca
from tests.support.netlab import context, registered, stack_spec
from tests.support.pki import mock_pki

CERT = "pulumi-python:dynamic/mammatus:StepCaCertificate"



@pytest.fixture(scope="module")
def home():
    ctx = context(stack_spec("home"))

    def build():
        ca = CertificateAuthority("ca", ctx, provisioners=[
            {"type": "OIDC", "name": "sso", "clientID": "mammatus"}])
        key, cert = issue_certificate(ca.handle, "svc", "svc.mammatus", ["svc"], ["10.0.0.9"], parent=ca)
        return ca
    mocks, ca = registered(build)
    return mocks, ca, ctx


def test_root_and_intermediate_are_tls_resources(home):
    mocks, _, _ = home
    root = mocks.named("ca-root")
    assert root.typ == "tls:index/selfSignedCert:SelfSignedCert"
    assert root.inputs["isCaCertificate"] is True and "cert_signing" in root.inputs["allowedUses"]
    inter = mocks.named("ca-intermediate")
    assert inter.typ == "tls:index/locallySignedCert:LocallySignedCert"
    assert inter.inputs["isCaCertificate"] is True
    assert inter.inputs["certRequestPem"].startswith("-----BEGIN CERTIFICATE REQUEST")
    assert mocks.named("ca-intermediate-csr").typ == "tls:index/certRequest:CertRequest"
    assert mocks.named("ca-root-key").inputs["ecdsaCurve"] == "P256"


def test_ca_json_on_the_placed_host_with_acme_and_jwk(home):
    mocks, _, _ = home
    write = mocks.inputs("ca-config-write")
    assert write["connection"]["host"] == "10.0.0.2"  # home: ca placed on control
    assert "/etc/mammatus/step-ca/config/ca.json" in write["path"] and write["mode"] == "0600"
    config = json.loads(write["content"])
    assert [p["type"] for p in config["authority"]["provisioners"]] == ["ACME", "JWK"]
    assert config["dnsNames"][:3] == ["control.mammatus", "10.0.0.2", "ca.mammatus"]
    assert config["address"] == "10.0.0.2:9000"  # the LAN address only, not every one
    key = mocks.inputs("ca-intermediate-key-write")
    assert key["mode"] == "0600" and "PRIVATE KEY" in key["content"]


def test_step_ca_runs_under_systemd_with_the_config(home):
    mocks, _, _ = home
    run = mocks.inputs("ca-step-ca-run")
    assert "systemctl restart mammatus-step-ca" in run["create"]
    assert "ExecStart=/opt/mammatus/bin/step-ca /etc/mammatus/step-ca/config/ca.json" in run["create"]


def test_outputs_and_the_handle_later_layers_get(home):
    _, ca, ctx = home
    assert resolved(ca.ca_url) == "https://control.mammatus:9000"
    assert resolved(ca.acme_directory) == "https://control.mammatus:9000/acme/acme/directory"
    assert resolved(ca.root_fingerprint) == step_ca.root_fingerprint(mock_pki().root_pem)
    assert resolved(ca.handle.root_pem) == mock_pki().root_pem
    assert resolved(ca.handle.root_fingerprint) == resolved(ca.root_fingerprint)
    assert ca.handle.api_url == "https://10.0.0.2:9000"
    assert resolved(ca.handle.url) == "https://control.mammatus:9000"


def test_issued_certificate_uses_the_jwk_provisioner(home):
    mocks, _, _ = home
    cert = [r for r in mocks.of_type(CERT) if r.name == "svc-cert"][0]
    assert cert.inputs["ca_url"] == "https://10.0.0.2:9000"
    assert cert.inputs["provisioner"] == "mammatus"
    csr = mocks.named("svc-csr").inputs
    assert csr["dnsNames"] == ["svc.mammatus", "svc"] and csr["ipAddresses"] == ["10.0.0.9"]


def test_needs_a_placement():
    spec = stack_spec("home")
    spec = spec.model_copy(update={"placement": spec.placement.model_copy(update={"ca": None})})
    with pytest.raises(ValueError, match="placement.ca"):
        registered(lambda: CertificateAuthority("noca", context(spec)))


def test_step_ca_reloads_when_certificates_or_config_change(home):
    mocks, _, _ = home
    reload = mocks.inputs("ca-reload")
    assert reload["create"] == "systemctl kill -s HUP mammatus-step-ca || true"
    assert len(reload["triggers"]) == 3 and reload["triggers"][1] == mock_pki().root_pem


def test_extra_provisioners_are_provider_resources_on_the_ca_host(home):
    mocks, _, _ = home
    prov = mocks.named("ca-provisioner-sso")
    assert prov.typ == "pulumi-python:dynamic/mammatus:StepCaProvisioner"
    inputs = mocks.inputs("ca-provisioner-sso")
    assert inputs["provisioner"]["type"] == "OIDC"
    assert inputs["config_path"] == "/etc/mammatus/step-ca/config/ca.json"
    assert inputs["unit"] == "mammatus-step-ca" and inputs["connection"]["host"] == "10.0.0.2"
    assert len(inputs["base_digest"]) == 16
