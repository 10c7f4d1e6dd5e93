"""The Metadata layer with the CA (mocks): an RSA key and its certificate from the cloud's CA
sign the instance identity document; the key is the service user's 0600 file and secret in the
state, the config names both files, the certificate is the layer's output."""

import pytest

from components.ca import CertificateAuthority
from components.configuration import Configuration
from components.contracts import DhcpServer
from components.metadata import Metadata
from services.metadata.config import parse_config
from tests.support.netlab import SECRET_SIG, context, registered, stack_spec


@pytest.fixture(scope="module")
def home():
    ctx = context(stack_spec("home"))

    def build():
        config = Configuration("md-cfg", ctx)
        dhcp = DhcpServer(target={"lease_file": "/var/lib/misc/dnsmasq.leases"},
                          resource=config, lease_hook={"key": "/k", "config": "/c",
                                                       "key_path": "/k", "hook": "/h"},
                          dns_address="10.0.0.1", domain="mammatus")
        return Metadata("md", ctx, inventory=config.inventory, dhcp=dhcp,
                        ca=CertificateAuthority("ca", ctx).handle)
    return registered(build)


def test_the_signing_key_is_rsa_from_the_ca_and_the_service_users_alone(home):
    mocks, _ = home
    key = mocks.named("md-identity-signing-key")
    assert (key.inputs["algorithm"], key.inputs["rsaBits"]) == ("RSA", 2048)
    written = mocks.inputs("md-identity-signing-key-file-write")
    assert (written["path"], written["mode"], written["owner"]) == (
        "/etc/mammatus/metadata/identity-signing.key", "0600",
        "mammatus-metadata:mammatus-metadata")
    assert SECRET_SIG in str(mocks.named("md-identity-signing-key-file-write").inputs["content"])
    csr = mocks.inputs("md-identity-signing-csr")
    assert csr["subject"]["commonName"] == "metadata.mammatus"


def test_the_config_names_both_files(home):
    mocks, _ = home
    config = parse_config(mocks.inputs("md-config-write")["content"])
    assert str(config.identity_signing.key_file) == "/etc/mammatus/metadata/identity-signing.key"
    assert str(config.identity_signing.cert_file) == "/etc/mammatus/metadata/identity-signing.crt"
