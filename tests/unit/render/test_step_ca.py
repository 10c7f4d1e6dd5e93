import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.render import step_ca
from tests.support.pki import make_pki


def _pub(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_jwk_is_p256_with_rfc7638_thumbprint_kid():
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = step_ca.jwk_from_public_pem(_pub(key))
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    # The kid does not change with the key's encoding (private PEM gives the same JWK).
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    assert step_ca.jwk_from_public_pem(private) == jwk
    assert len(jwk["kid"]) == 43


def test_jwk_refuses_other_curves():
    with pytest.raises(ValueError, match="P-256"):
        step_ca.jwk_from_public_pem(_pub(ec.generate_private_key(ec.SECP384R1())))


def test_ca_json_has_files_names_and_both_provisioners():
    paths = step_ca.StepCaPaths()
    jwk = step_ca.jwk_from_public_pem(_pub(ec.generate_private_key(ec.SECP256R1())))
    config = json.loads(step_ca.ca_config(
        paths, step_ca.dns_names_for("ca.mammatus", "10.0.0.2"),
        [step_ca.acme_provisioner(), step_ca.jwk_provisioner(jwk)]))
    assert config["root"] == "/etc/mammatus/step-ca/certs/root_ca.crt"
    assert config["key"].endswith("/secrets/intermediate_ca_key")
    assert config["address"] == ":9000"
    assert config["dnsNames"][:2] == ["ca.mammatus", "10.0.0.2"]
    types = [(p["type"], p["name"]) for p in config["authority"]["provisioners"]]
    assert types == [("ACME", "acme"), ("JWK", "mammatus")]
    assert config["authority"]["provisioners"][1]["key"]["kid"] == jwk["kid"]


def test_ca_json_refuses_duplicate_provisioners_and_no_names():
    paths = step_ca.StepCaPaths()
    with pytest.raises(ValueError, match="duplicate"):
        step_ca.ca_config(paths, ["ca"], [step_ca.acme_provisioner(), step_ca.acme_provisioner()])
    with pytest.raises(ValueError, match="DNS name"):
        step_ca.ca_config(paths, [""], [])


def test_fingerprint_is_sha256_of_der_hex():
    import hashlib

    from cryptography import x509
    pem = make_pki().root_pem
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    assert step_ca.root_fingerprint(pem) == hashlib.sha256(der).hexdigest()
    assert step_ca.acme_directory(step_ca.ca_url("ca.mammatus")) == \
        "https://ca.mammatus:9000/acme/acme/directory"
