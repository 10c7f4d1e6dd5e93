"""The identity document's three signatures, verified as EC2's documentation verifies them:
openssl (smime -verify for pkcs7 and rsa2048, dgst -verify for signature) against the
certificate alone; a tampered document fails every one."""

import base64
import datetime
import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from services.metadata import ec2, signing
from services.metadata.config import parse_config
from services.metadata.tree import lookup, render

from .helpers import ident


def _certificate(key, name="metadata.test"):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("signing")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    (tmp / "cert.pem").write_bytes(_certificate(key).public_bytes(serialization.Encoding.PEM))
    return tmp


@pytest.fixture(scope="module")
def served(files):
    config = parse_config(json.dumps({"identity_signing": {
        "key_file": str(files / "key.pem"), "cert_file": str(files / "cert.pem")}}))
    tree = ec2.version_tree(config, ident())
    node = lookup(tree, "dynamic/instance-identity")
    return {name: render(value) for name, value in node.items()}


def _armoured(body: str) -> str:
    return f"-----BEGIN PKCS7-----\n{body}\n-----END PKCS7-----\n"


def _smime(files, pkcs7: str, content=None):
    (files / "p7.pem").write_text(_armoured(pkcs7))
    args = ["openssl", "smime", "-verify", "-in", str(files / "p7.pem"), "-inform", "PEM",
            "-certfile", str(files / "cert.pem"), "-noverify"]
    if content is not None:
        (files / "document").write_text(content)
        args += ["-content", str(files / "document")]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def test_the_listing_names_the_document_and_its_three_signatures(served):
    assert set(served) == {"document", "signature", "pkcs7", "rsa2048"}
    assert json.loads(served["document"])["instanceId"] == "i-0123456789abcdef0"
    assert "BEGIN" not in served["pkcs7"] and all(len(line) <= 64
                                                   for line in served["pkcs7"].splitlines())


def test_pkcs7_verifies_with_the_certificate_and_carries_the_document(served, files):
    run = _smime(files, served["pkcs7"])
    assert run.returncode == 0 and "Verification successful" in run.stderr, run.stderr
    assert run.stdout == served["document"]


def test_rsa2048_is_a_detached_signature_of_the_document(served, files):
    run = _smime(files, served["rsa2048"], served["document"])
    assert run.returncode == 0 and "Verification successful" in run.stderr, run.stderr
    tampered = served["document"].replace('"x86_64"', '"arm64"')
    assert _smime(files, served["rsa2048"], tampered).returncode != 0


def test_signature_is_rsa_sha256_of_the_document(served, files):
    (files / "document").write_text(served["document"])
    (files / "sig").write_bytes(base64.b64decode(served["signature"]))
    subprocess.run(["openssl", "x509", "-in", str(files / "cert.pem"), "-pubkey", "-noout",
                    "-out", str(files / "pub.pem")], check=True)

    def verify():
        return subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(files / "pub.pem"),
                               "-signature", str(files / "sig"), str(files / "document")],
                              capture_output=True, text=True)
    assert verify().stdout.strip() == "Verified OK"
    (files / "document").write_text(served["document"] + " ")
    assert verify().returncode != 0


def test_a_key_that_is_not_rsa_or_not_the_certificates_is_refused(files, tmp_path):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(ec_key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    with pytest.raises(signing.SigningError, match="must be RSA"):
        signing.load(str(tmp_path / "ec.pem"), str(files / "cert.pem"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "other.pem").write_bytes(_certificate(other).public_bytes(serialization.Encoding.PEM))
    with pytest.raises(signing.SigningError, match="not the key's"):
        signing.load(str(files / "key.pem"), str(tmp_path / "other.pem"))
    with pytest.raises(signing.SigningError, match="unreadable"):
        signing.load(str(tmp_path / "missing.pem"), str(files / "cert.pem"))


def test_without_a_key_only_the_document_is_served():
    node = lookup(ec2.version_tree(parse_config("cloud: {name: c}"), ident()), "dynamic/instance-identity")
    assert list(node) == ["document"]
