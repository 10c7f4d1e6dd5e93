"""tools/providers/tls.py through the ResourceProvider interface."""
import base64
import datetime as dt
import hashlib
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pulumi.runtime.proto import provider_pb2

from tools.providers import tls
from tests.unit.tools.helpers import UNKNOWN, Client, is_secret, plain, secret

KEY = tls.PrivateKey.token
SSC = tls.SelfSignedCert.token
CSR = tls.CertRequest.token
LSC = tls.LocallySignedCert.token
P = provider_pb2.PropertyDiff


@pytest.fixture(scope="module")
def c():
    return Client(tls.make_servicer())


def make_key(c, **kw):
    inputs = c.checked(KEY, kw)
    return c.create(KEY, inputs)


def test_private_key_defaults(c):
    assert c.checked(KEY, {"algorithm": "RSA"}) == {"algorithm": "RSA", "rsaBits": 2048, "ecdsaCurve": "P224"}


@pytest.mark.parametrize("news,prop,reason", [
    ({"algorithm": "DSA"}, "algorithm",
     'Attribute algorithm value must be one of: ["RSA" "ECDSA" "ED25519"], got: "DSA"'),
    ({"algorithm": "ECDSA", "ecdsaCurve": "P999"}, "ecdsaCurve", "value must be one of"),
    ({}, "algorithm", "is required"),
    ({"algorithm": "RSA", "rsaBits": 512}, "rsaBits", "at least 1024"),
])
def test_private_key_check_failures(c, news, prop, reason):
    _, failures = c.check(KEY, news)
    assert any(p == prop and reason in r for p, r in failures), failures


@pytest.mark.parametrize("kw,cls,header", [
    ({"algorithm": "RSA", "rsaBits": 2048}, rsa.RSAPrivateKey, "RSA PRIVATE KEY"),
    ({"algorithm": "ECDSA", "ecdsaCurve": "P256"}, ec.EllipticCurvePrivateKey, "EC PRIVATE KEY"),
    ({"algorithm": "ECDSA", "ecdsaCurve": "P384"}, ec.EllipticCurvePrivateKey, "EC PRIVATE KEY"),
    ({"algorithm": "ECDSA", "ecdsaCurve": "P521"}, ec.EllipticCurvePrivateKey, "EC PRIVATE KEY"),
    ({"algorithm": "ED25519"}, ed25519.Ed25519PrivateKey, "PRIVATE KEY"),
])
def test_private_key_outputs(c, kw, cls, header, tmp_path):
    id_, o = make_key(c, **kw)
    for k in ("privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"):
        assert is_secret(o[k]), k
    for k in ("publicKeyPem", "publicKeyOpenssh", "publicKeyFingerprintMd5", "publicKeyFingerprintSha256"):
        assert not is_secret(o[k]), k
    pem = plain(o["privateKeyPem"])
    assert pem.startswith(f"-----BEGIN {header}-----\n") and pem.endswith("-----\n")
    key = serialization.load_pem_private_key(pem.encode(), None)
    assert isinstance(key, cls)
    assert plain(o["privateKeyPemPkcs8"]).startswith("-----BEGIN PRIVATE KEY-----\n")
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert o["publicKeyPem"] == pub_pem
    assert id_ == hashlib.sha1(pub_pem.strip().encode(), usedforsecurity=False).hexdigest()
    ssh = o["publicKeyOpenssh"]
    assert ssh.endswith("\n") and len(ssh.split()) == 2
    # The fingerprints are exactly what OpenSSH prints for the key.
    path = tmp_path / "id"
    path.write_text(plain(o["privateKeyOpenssh"]))
    path.chmod(0o600)
    sha = subprocess.run(["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True)
    md5 = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(path)], capture_output=True, text=True,
                         check=True)
    assert sha.stdout.split()[1] == o["publicKeyFingerprintSha256"]
    assert md5.stdout.split()[1] == "MD5:" + o["publicKeyFingerprintMd5"]
    pub_from_priv = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True,
                                   check=True).stdout
    assert pub_from_priv.split()[:2] == ssh.split()
    # OpenSSH private keys are wrapped at 64 columns like Go's encoding/pem.
    body = plain(o["privateKeyOpenssh"]).splitlines()[1:-1]
    assert all(len(line) == 64 for line in body[:-1]) and 0 < len(body[-1]) <= 64


def test_fingerprint_formats(c):
    _, o = make_key(c, algorithm="ED25519")
    blob = base64.b64decode(o["publicKeyOpenssh"].split()[1])
    assert o["publicKeyFingerprintSha256"] == \
        "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    assert o["publicKeyFingerprintMd5"] == ":".join(md5[i:i + 2] for i in range(0, 32, 2))


def test_p224_has_no_ssh_forms(c):
    _, o = make_key(c, algorithm="ECDSA")
    assert o["ecdsaCurve"] == "P224"
    assert plain(o["privateKeyOpenssh"]) == "" and o["publicKeyOpenssh"] == ""
    assert o["publicKeyFingerprintMd5"] == "" and o["publicKeyFingerprintSha256"] == ""
    key = serialization.load_pem_private_key(plain(o["privateKeyPem"]).encode(), None)
    assert isinstance(key.curve, ec.SECP224R1)


def test_private_key_preview_and_diff(c):
    inputs = c.checked(KEY, {"algorithm": "ED25519"})
    id_, o = c.create(KEY, inputs, preview=True)
    assert id_ == "" and plain(o["privateKeyPem"]) == UNKNOWN and o["publicKeyOpenssh"] == UNKNOWN
    id_, o = c.create(KEY, inputs)
    assert c.diff(KEY, o, inputs, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE
    news = c.checked(KEY, {"algorithm": "RSA"})
    d = c.diff(KEY, o, news, inputs)
    assert list(d.replaces) == ["algorithm"]


@pytest.fixture(scope="module")
def ca(c):
    _, key = make_key(c, algorithm="ECDSA", ecdsaCurve="P256")
    inputs = c.checked(SSC, {"privateKeyPem": key["privateKeyPem"], "validityPeriodHours": 24,
                             "allowedUses": ["cert_signing", "crl_signing"], "isCaCertificate": True,
                             "subject": {"commonName": "Mammatus CA", "organization": "Mammatus"}})
    id_, outs = c.create(SSC, inputs)
    return key, inputs, id_, outs


def test_self_signed_cert(c, ca):
    key, inputs, id_, outs = ca
    assert inputs["earlyRenewalHours"] == 0 and inputs["isCaCertificate"] is True
    assert inputs["setSubjectKeyId"] is False and inputs["setAuthorityKeyId"] is False
    assert is_secret(outs["privateKeyPem"]) and not is_secret(outs["certPem"])
    cert = x509.load_pem_x509_certificate(outs["certPem"].encode())
    assert id_ == str(cert.serial_number) and 0 < cert.serial_number < 2 ** 128
    assert cert.subject.rfc4514_string() == "CN=Mammatus CA,O=Mammatus"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    cert.verify_directly_issued_by(cert)
    start = dt.datetime.fromisoformat(outs["validityStartTime"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(outs["validityEndTime"].replace("Z", "+00:00"))
    assert outs["validityStartTime"].endswith("Z") and end - start == dt.timedelta(hours=24)
    assert cert.not_valid_before_utc == start and cert.not_valid_after_utc == end
    assert outs["readyForRenewal"] is False and outs["keyAlgorithm"] == "ECDSA"


def test_cert_check_failures(c):
    _, failures = c.check(SSC, {"privateKeyPem": "x", "validityPeriodHours": 1, "allowedUses": ["bogus"]})
    assert failures and failures[0][0] == "allowedUses" and "bogus" in failures[0][1]
    _, failures = c.check(SSC, {"privateKeyPem": "x", "validityPeriodHours": 1, "allowedUses": [],
                                "ipAddresses": ["not-an-ip"]})
    assert failures[0][0] == "ipAddresses"
    _, failures = c.check(SSC, {"validityPeriodHours": 1, "allowedUses": []})
    assert failures[0][0] == "privateKeyPem"


def test_cert_request_and_locally_signed_cert(c, ca):
    ca_key, _, _, ca_outs = ca
    _, leaf_key = make_key(c, algorithm="RSA")
    req_in = c.checked(CSR, {"privateKeyPem": leaf_key["privateKeyPem"], "subject": {"commonName": "host.lab"},
                             "dnsNames": ["host.lab", "*.host.lab"], "ipAddresses": ["10.0.0.5", "fd00::5"]})
    req_id, req = c.create(CSR, req_in)
    assert req["keyAlgorithm"] == "RSA" and is_secret(req["privateKeyPem"])
    assert req_id == hashlib.sha1(req["certRequestPem"].strip().encode(), usedforsecurity=False).hexdigest()
    lsc_in = c.checked(LSC, {"certRequestPem": req["certRequestPem"], "caCertPem": ca_outs["certPem"],
                             "caPrivateKeyPem": ca_key["privateKeyPem"], "validityPeriodHours": 48,
                             "allowedUses": ["digital_signature", "key_encipherment", "server_auth"]})
    id_, outs = c.create(LSC, lsc_in)
    assert is_secret(outs["caPrivateKeyPem"]) and outs["caKeyAlgorithm"] == "ECDSA"
    cert = x509.load_pem_x509_certificate(outs["certPem"].encode())
    ca_cert = x509.load_pem_x509_certificate(ca_outs["certPem"].encode())
    cert.verify_directly_issued_by(ca_cert)
    assert id_ == str(cert.serial_number)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["host.lab", "*.host.lab"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5", "fd00::5"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert cert.subject.rfc4514_string() == "CN=host.lab"


def test_renewal(c, ca):
    key, inputs, id_, outs = ca
    # early renewal window covering the whole validity: ready at once, and diff replaces
    news = {**inputs, "earlyRenewalHours": 30}
    d = c.diff(SSC, outs, news, inputs)
    assert "readyForRenewal" in d.replaces
    assert d.detailedDiff["earlyRenewalHours"].kind == P.UPDATE
    assert d.detailedDiff["readyForRenewal"].kind == P.UPDATE_REPLACE
    # a smaller window is an in-place update only
    news = {**inputs, "earlyRenewalHours": 1}
    d = c.diff(SSC, outs, news, inputs)
    assert list(d.diffs) == ["earlyRenewalHours"] and list(d.replaces) == []
    updated = c.update(SSC, outs, news, old_inputs=inputs)
    assert updated["earlyRenewalHours"] == 1 and updated["certPem"] == outs["certPem"]
    # an expired certificate is replaced
    expired = {**outs, "validityEndTime": "2000-01-01T00:00:00Z"}
    assert "readyForRenewal" in c.diff(SSC, expired, inputs, inputs).replaces
    assert c.read(SSC, id_, expired, inputs)[1]["readyForRenewal"] is True
    # unchanged and not due: nothing to do
    assert c.diff(SSC, outs, inputs, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE


def test_other_cert_changes_replace(c, ca):
    key, inputs, id_, outs = ca
    d = c.diff(SSC, outs, {**inputs, "validityPeriodHours": 48}, inputs)
    assert list(d.replaces) == ["validityPeriodHours"]
    d = c.diff(SSC, outs, {**inputs, "dnsNames": ["a"]}, inputs)
    assert list(d.replaces) == ["dnsNames"]


def test_cert_preview_with_unknown_key(c):
    inputs, failures = c.check(SSC, {"privateKeyPem": secret(UNKNOWN), "validityPeriodHours": 1,
                                     "allowedUses": ["server_auth"]})
    assert failures == []
    id_, outs = c.create(SSC, inputs, preview=True)
    assert id_ == "" and outs["certPem"] == UNKNOWN and outs["readyForRenewal"] == UNKNOWN


def test_bad_private_key_is_reported(c):
    from tests.unit.tools.helpers import expect_abort
    inputs = c.checked(SSC, {"privateKeyPem": "garbage", "validityPeriodHours": 1, "allowedUses": []})
    assert "failed to decode private key PEM" in expect_abort(c.create, SSC, inputs)


def test_ed25519_and_rsa_signers(c):
    for kw in ({"algorithm": "ED25519"}, {"algorithm": "RSA"}, {"algorithm": "ECDSA", "ecdsaCurve": "P384"}):
        _, key = make_key(c, **kw)
        inputs = c.checked(SSC, {"privateKeyPem": key["privateKeyPem"], "validityPeriodHours": 1,
                                 "allowedUses": ["server_auth"], "dnsNames": ["x"], "setSubjectKeyId": True,
                                 "setAuthorityKeyId": True})
        _, outs = c.create(SSC, inputs)
        cert = x509.load_pem_x509_certificate(outs["certPem"].encode())
        cert.verify_directly_issued_by(cert)
        assert outs["keyAlgorithm"] == kw["algorithm"]
        assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
            cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def test_get_public_key_function(c):
    _, key = make_key(c, algorithm="ED25519")
    for form in ("privateKeyPem", "privateKeyOpenssh"):
        result, failures = c.invoke("tls:index/getPublicKey:getPublicKey", {form: key[form]})
        assert failures == []
        for k in ("publicKeyPem", "publicKeyOpenssh", "publicKeyFingerprintMd5", "publicKeyFingerprintSha256"):
            assert result[k] == key[k], k
        assert result["algorithm"] == "ED25519" and is_secret(result[form])
        assert result["id"] == hashlib.sha1(key["publicKeyPem"].strip().encode(), usedforsecurity=False).hexdigest()
    _, failures = c.invoke("tls:index/getPublicKey:getPublicKey", {})
    assert failures[0][0] == "privateKeyPem"


def test_write_only_private_key_is_not_stored(c):
    _, key = make_key(c, algorithm="ED25519")
    inputs = c.checked(SSC, {"privateKeyPemWo": key["privateKeyPem"], "privateKeyPemWoVersion": 1,
                             "validityPeriodHours": 5, "allowedUses": ["server_auth"]})
    id_, outs = c.create(SSC, inputs)
    assert "privateKeyPemWo" not in outs and outs["keyAlgorithm"] == "ED25519"
    updated = c.update(SSC, outs, {**inputs, "earlyRenewalHours": 1}, old_inputs=inputs)
    assert "privateKeyPemWo" not in updated and updated["earlyRenewalHours"] == 1
