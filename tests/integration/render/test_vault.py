"""The rendered Vault server config run by a real Vault (.tools/bin/vault or `vault` on PATH) on
loopback, with a TLS certificate the real step-ca signs
through the step-ca provider, as the Secrets layer does: Vault answers /v1/sys/health over TLS
to a client that trusts only the cloud's root (uninitialised and sealed: 501).

Skipped when no vault binary is there: Vault is not packaged in Debian bookworm, and it does not
build from the Go module proxy (v1.17: github.com/pires/go-proxyproto@v1.0.0 is refused with 403;
v1.20: its plugin modules are unknown to the checksum database; v1.21.4 resolves but does not
compile against the sdk versions it resolves to)."""

import json
import os
import shutil
import ssl
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.render import vault
from dynamic_providers import step_ca as provider
from tests.support.daemons import free_port, start, stop, wait_for
from tests.support.paths import ROOT
from tests.support.step_ca_server import running_step_ca

pytestmark = pytest.mark.integration

VAULT = str(ROOT / ".tools" / "bin" / "vault")
if not os.access(VAULT, os.X_OK):
    VAULT = shutil.which("vault") or VAULT


def test_vault_serves_tls_with_a_step_ca_certificate(tmp_path):
    if not os.access(VAULT, os.X_OK):
        pytest.skip("no vault binary (.tools/bin/vault or on PATH); see this module's docstring")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vault.mammatus")]))
           .add_extension(x509.SubjectAlternativeName([
               x509.DNSName("vault.mammatus"), x509.DNSName("localhost"),
               x509.IPAddress(__import__("ipaddress").IPv4Address("127.0.0.1"))]), False)
           .sign(key, hashes.SHA256())).public_bytes(serialization.Encoding.PEM).decode()
    with running_step_ca(str(tmp_path / "ca")) as ca:
        cert = provider.CertificateProvider().create({
            "ca_url": ca.url, "root_pem": ca.pki.root_pem, "csr_pem": csr, "provisioner": "mammatus",
            "provisioner_key": ca.key_pem, "kid": ca.jwk["kid"]}).outs
        root_pem = ca.pki.root_pem

    paths = vault.VaultPaths().under(lambda p: str(tmp_path / "vault") + p)
    os.makedirs(paths.data_dir)
    os.makedirs(os.path.dirname(paths.tls_cert))
    with open(paths.tls_cert, "w") as f:
        f.write(cert["certificate_pem"] + cert["chain_pem"])
    with open(paths.tls_key, "w") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode())
    port, cluster = free_port(), free_port()
    config = vault.server_config(paths, "control", f"https://127.0.0.1:{port}",
                                 f"https://127.0.0.1:{cluster}", listen=f"127.0.0.1:{port}",
                                 cluster_port=cluster)
    conf = tmp_path / "vault.json"
    conf.write_text(config)
    log = str(tmp_path / "vault.log")
    proc = start([VAULT, "server", f"-config={conf}"], log)
    try:
        context = ssl.create_default_context(cadata=root_pem)

        def health():
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/v1/sys/health", context=context)
            except urllib.error.HTTPError as err:
                return err.code, json.loads(err.read())
            return 200, {}
        wait_for(lambda: health()[0] == 501, "vault /v1/sys/health over TLS", attempts=300,
                 proc=proc, log=log)
        status, body = health()
        assert status == 501 and body["initialized"] is False and body["sealed"] is True
    finally:
        stop(proc)
