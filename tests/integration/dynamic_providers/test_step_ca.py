"""The rendered ca.json loaded by the real step-ca (built from tools/step-ca) on loopback, and
the step-ca provider's certificates and provisioners against it."""

import json
import ssl
import urllib.request

import dill
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.render import step_ca as render
from dynamic_providers import step_ca as provider
from tests.support.daemons import wait_for
from tests.support.step_ca_server import running_step_ca

pytestmark = pytest.mark.integration

def _pem_public(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _pem_private(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    with running_step_ca(str(tmp_path_factory.mktemp("step-ca"))) as running:
        yield {"url": running.url, "pki": running.pki, "paths": running.paths, "jwk": running.jwk,
               "proc": running.proc, "key_pem": running.key_pem, "pid_file": running.pid_file,
               "log": running.log, "ctx": ssl.create_default_context(cadata=running.pki.root_pem)}


def _get(ca, path):
    with urllib.request.urlopen(ca["url"] + path, context=ca["ctx"]) as resp:
        return resp.status, json.loads(resp.read())


def test_health_and_roots_serve_the_configured_root(ca):
    assert _get(ca, "/health") == (200, {"status": "ok"})
    _, roots = _get(ca, "/roots")
    served = x509.load_pem_x509_certificate(roots["crts"][0].encode())
    assert served.public_bytes(serialization.Encoding.DER) == \
        x509.load_pem_x509_certificate(ca["pki"].root_pem.encode()).public_bytes(serialization.Encoding.DER)
    # The fingerprint we publish is the one step-ca logs at start (and `step` prints).
    with open(ca["log"]) as f:
        assert f"X.509 Root Fingerprint: {render.root_fingerprint(ca['pki'].root_pem)}" in f.read()


def test_acme_directory_and_jwk_provisioner_are_live(ca):
    _, directory = _get(ca, "/acme/acme/directory")
    assert directory["newOrder"].startswith(ca["url"] + "/acme/acme/")
    _, listed = _get(ca, "/provisioners")
    jwk = provider.find_provisioner(listed["provisioners"], "JWK", "mammatus")
    assert jwk["key"]["kid"] == ca["jwk"]["kid"]


def _csr(cn, names):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_certificate_is_signed_by_the_intermediate_and_revoked_on_delete(ca):
    p = dill.loads(dill.dumps(provider.CertificateProvider()))
    props = {"ca_url": ca["url"], "root_pem": ca["pki"].root_pem,
             "csr_pem": _csr("vault.mammatus", ["vault.mammatus", "vault"]),
             "provisioner": "mammatus", "provisioner_key": ca["key_pem"], "kid": ca["jwk"]["kid"]}
    inputs, failures = provider.check_certificate(props)
    assert failures == []
    created = p.create(inputs)
    leaf = x509.load_pem_x509_certificate(created.outs["certificate_pem"].encode())
    inter = x509.load_pem_x509_certificate(created.outs["chain_pem"].encode())
    root = x509.load_pem_x509_certificate(ca["pki"].root_pem.encode())
    leaf.verify_directly_issued_by(inter)
    inter.verify_directly_issued_by(root)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == ["vault", "vault.mammatus"]
    assert created.id == str(leaf.serial_number)

    read = p.read(created.id, created.outs)
    assert read.outs["fingerprint"] == created.outs["fingerprint"]
    assert "certificate_pem" not in read.inputs and read.inputs["csr_pem"] == props["csr_pem"]

    p.delete(created.id, created.outs)
    # Revoked: step-ca refuses to revoke it a second time.
    url = ca["url"]
    token = provider.build_token(ca["key_pem"], ca["jwk"]["kid"], "mammatus",
                                 f"{url}/1.0/revoke", created.id)
    status, body = provider.http(provider.revoke_request(url, created.id, token), ca["pki"].root_pem)
    assert status >= 400 and "is already revoked" in body


def test_a_token_for_other_names_is_refused(ca):
    p = provider.CertificateProvider()
    url = ca["url"]
    token = provider.build_token(ca["key_pem"], ca["jwk"]["kid"], "mammatus", f"{url}/1.0/sign",
                                 "other.mammatus", ["other.mammatus"])
    status, body = provider.http(provider.sign_request(url, _csr("vault.mammatus", ["vault.mammatus"]), token),
                                 ca["pki"].root_pem)
    with pytest.raises(RuntimeError, match="step-ca sign failed"):
        provider.parse_sign_response(status, body)
    assert p.check(None, {"ca_url": "http://x"}).failures


def test_provisioner_is_added_listed_read_and_removed(ca):
    p = dill.loads(dill.dumps(provider.ProvisionerProvider()))
    key = ec.generate_private_key(ec.SECP256R1())
    body = render.jwk_provisioner(render.jwk_from_public_pem(_pem_public(key)), name="ci")
    inputs, failures = provider.check_provisioner({
        "provisioner": body, "config_path": ca["paths"].config, "base_digest": "b1",
        "connection": None, "pid_file": ca["pid_file"], "unit": None,
        "ca_url": ca["url"], "root_pem": ca["pki"].root_pem})
    assert failures == []
    created = p.create(inputs)
    assert created.id == "JWK/ci"
    _, listed = _get(ca, "/provisioners")
    assert provider.find_provisioner(listed["provisioners"], "JWK", "ci")["key"]["kid"] == body["key"]["kid"]
    assert provider.find_provisioner(listed["provisioners"], "ACME", "acme") is not None

    read = p.read(created.id, created.outs)
    assert read.outs["provisioner"]["key"] == body["key"]

    # A token of the new provisioner is accepted for signing.
    url = ca["url"]
    token = provider.build_token(_pem_private(key), body["key"]["kid"], "ci", f"{url}/1.0/sign",
                                 "ci.mammatus", ["ci.mammatus"])
    status, text = provider.http(provider.sign_request(url, _csr("ci.mammatus", ["ci.mammatus"]), token),
                                 ca["pki"].root_pem)
    assert provider.parse_sign_response(status, text)["certificate_pem"].startswith("-----BEGIN CERTIFICATE")

    p.delete(created.id, created.outs)
    assert p.read(created.id, created.outs).id is None

    def gone():
        _, listed = _get(ca, "/provisioners")
        return provider.find_provisioner(listed["provisioners"], "JWK", "ci") is None
    wait_for(gone, "step-ca dropping the removed provisioner", proc=ca["proc"], log=ca["log"])
