"""A root and an intermediate CA like the CertificateAuthority layer's pulumi_tls resources
make them (ECDSA P-256, root self-signed, intermediate path length 0), for tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class TestPki:
    root_pem: str
    intermediate_pem: str
    intermediate_key_pem: str
    intermediate_public_pem: str = ""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mammatus"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_cert(subject, issuer, public_key, signing_key, path_length):
    now = dt.datetime.now(dt.timezone.utc)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                          crl_sign=True, encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(usage, critical=True)
            .sign(signing_key, hashes.SHA256()))


def make_pki() -> TestPki:
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca_cert(_name("Mammatus Root CA"), _name("Mammatus Root CA"), root_key.public_key(),
                    root_key, 1)
    inter = _ca_cert(_name("Mammatus Intermediate CA"), root.subject, inter_key.public_key(),
                     root_key, 0)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    key_pem = inter_key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()).decode()
    public = inter_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return TestPki(pem(root), pem(inter), key_pem, public)


_MOCK = None


def mock_pki() -> TestPki:
    """One PKI per test process (for Pulumi mocks)."""
    global _MOCK
    if _MOCK is None:
        _MOCK = make_pki()
    return _MOCK


def server_certificate(pki: TestPki, common_name: str, dns_names=(), ip_addresses=(),
                       client_auth: bool = False) -> tuple[str, str]:
    """(the leaf then the intermediate, the leaf's key) for a TLS server, signed by the PKI's
    intermediate as step-ca signs what Pulumi asks it for (components/certificates.py); with
    `client_auth` also good as a client's (step-ca's default template gives both usages)."""
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    intermediate = x509.load_pem_x509_certificate(pki.intermediate_pem.encode())
    issuer_key = serialization.load_pem_private_key(pki.intermediate_key_pem.encode(), None)
    sans = [x509.DNSName(n) for n in dict.fromkeys([common_name, *dns_names])]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    leaf = (x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(intermediate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH,
                 *([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return leaf.public_bytes(serialization.Encoding.PEM).decode() + pki.intermediate_pem, key_pem


@dataclass
class TlsFiles:
    """A server's certificate files and the root that verifies them, on disk."""
    cert: str
    key: str
    root: str


def write_server_files(directory, pki: TestPki, common_name: str = "localhost",
                       ip_addresses=("127.0.0.1",), cert_name: str = "server.crt",
                       key_name: str = "server.key") -> TlsFiles:
    """A server certificate for loopback (its chain, its key 0600) and the PKI's root, written
    into `directory`."""
    import os
    from pathlib import Path

    directory = Path(directory)
    chain, key = server_certificate(pki, common_name, ip_addresses=ip_addresses)
    (directory / cert_name).write_text(chain)
    key_path = directory / key_name
    key_path.touch(mode=0o600)
    key_path.write_text(key)
    os.chmod(key_path, 0o600)
    (directory / "root.pem").write_text(pki.root_pem)
    return TlsFiles(str(directory / cert_name), str(key_path), str(directory / "root.pem"))
