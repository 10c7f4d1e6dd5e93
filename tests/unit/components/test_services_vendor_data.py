"""Consul, Vault and InstanceTelemetry with mocks: servers on their hosts, and the vendor-data
they add (cloud-config parts and the metadata service's settings)."""

import json

import pytest

from tests.support.pulumi_mocks import resolved

from components.ca import CertificateAuthority
from components.consul import Consul
from components.monitoring import Monitoring
from components.telemetry import InstanceTelemetry
from components.vault import Vault
from services.metadata.config import VendorData
from tests.support.netlab import context, registered, stack_spec

CERT = "pulumi-python:dynamic/mammatus:StepCaCertificate"



@pytest.fixture(scope="module")
def home():
    ctx = context(stack_spec("home"))

    def build():
        ca = CertificateAuthority("ca", ctx).handle
        monitoring = Monitoring("mon", ctx).endpoints
        Consul("consul", ctx, ca=ca)
        Vault("vault", ctx, ca=ca)
        return InstanceTelemetry("telemetry", ctx, monitoring=monitoring)
    mocks, telemetry = registered(build)
    return mocks, telemetry, ctx


def test_vault_tls_certificate_comes_from_step_ca(home):
    mocks, _, _ = home
    cert = [r for r in mocks.of_type(CERT) if r.name == "vault-tls-cert"][0]
    assert cert.inputs["ca_url"] == "https://10.0.0.2:9000"
    csr = mocks.inputs("vault-tls-csr")
    assert csr["subject"]["commonName"] == "vault.mammatus"
    assert "control.mammatus" in csr["dnsNames"] and "10.0.0.2" in csr["ipAddresses"]
    config = json.loads(mocks.inputs("vault-config-write")["content"])
    assert config["api_addr"] == "https://control.mammatus:8200"
    assert mocks.inputs("vault-tls-key-write")["mode"] == "0600"


def test_merged_vendor_data_has_consul_vault_telegraf_and_the_root(home):
    _, telemetry, ctx = home
    merged = resolved(ctx.vendor_data.cloud_config)
    paths = {f["path"] for f in merged["write_files"]}
    assert {"/etc/consul.d/mammatus.json", "/etc/systemd/system/vault-agent.service",
            "/etc/vault.d/mammatus-root.pem", "/etc/telegraf/telegraf.d/mammatus.conf"} <= paths
    # The agent's config names the instance's AppRole: per instance, from the metadata service.
    assert "/etc/vault.d/agent.json" not in paths
    consul = json.loads(next(f["content"] for f in merged["write_files"]
                             if f["path"] == "/etc/consul.d/mammatus.json"))
    assert consul["retry_join"] == ["10.0.0.2", "10.0.0.11", "10.0.0.12"]
    assert consul["tls"]["defaults"]["ca_file"] == "/etc/ssl/certs/ca-certificates.crt"
    assert "encrypt" not in consul and "tokens" not in consul["acl"]   # never in vendor-data
    assert "BEGIN CERTIFICATE" in merged["ca_certs"]["trusted"][0]
    assert resolved(telemetry.vendor_data).startswith("#cloud-config\n")


def test_metadata_settings_validate_with_the_services_model(home):
    _, _, ctx = home
    settings = VendorData.model_validate(resolved(ctx.vendor_data.settings))
    assert "BEGIN CERTIFICATE" in settings.ca_cert_pem
    assert settings.consul.agent["retry_join"] == ["10.0.0.2", "10.0.0.11", "10.0.0.12"]
    assert settings.consul.credentials   # each instance fetches its gossip key and token
    assert settings.vault.address == "https://control.mammatus:8200"
    assert settings.telegraf.influxdb_urls == ["http://10.0.0.2:8086"]


def test_the_ca_alone_gives_instances_its_root():
    ctx = context(stack_spec("dev"))
    registered(lambda: CertificateAuthority("ca-alone", ctx))
    assert set(ctx.vendor_data.parts) == {"ca"}  # the dev stack has no monitoring
    assert "BEGIN CERTIFICATE" in resolved(ctx.vendor_data.cloud_config)["ca_certs"]["trusted"][0]
    # ... and in what the metadata service serves them (services/metadata/vendordata.py).
    settings = VendorData.model_validate({"ca_cert_pem": resolved(ctx.vendor_data.settings["ca_cert_pem"])})
    assert "BEGIN CERTIFICATE" in settings.ca_cert_pem


def test_without_a_ca_instances_trust_no_extra_root():
    ctx = context(stack_spec("home"))

    def build():
        monitoring = Monitoring("mon-noca", ctx).endpoints
        return InstanceTelemetry("tel-noca", ctx, monitoring=monitoring)
    registered(build)
    assert set(ctx.vendor_data.parts) == {"telegraf"}
