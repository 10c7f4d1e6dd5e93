"""The home stack's placement: dnsmasq on the gateway, the metadata service on control. The
gateway's dnsmasq pushes its leases to the service (services/metadata/lease_push.py)."""

import pytest
import yaml

from components.configuration import Configuration
from components.dhcp_dns_tftp import DhcpDnsTftp
from components.metadata import Metadata
from services.metadata.config import parse_config
from tests.support.netlab import context, plain, registered, stack_spec


@pytest.fixture(scope="module")
def home():
    ctx = context(stack_spec("home"))

    def build():
        dns = DhcpDnsTftp("dns", ctx)
        config = Configuration("cfg", ctx)
        return Metadata("md", ctx, inventory=config.inventory, dhcp=dns.server)
    mocks, _ = registered(build)
    return mocks


def test_dnsmasq_runs_the_lease_hook_on_every_lease_and_renewal(home):
    conf = home.named("dns-config-write").inputs["content"].splitlines()
    assert "dhcp-script=/etc/mammatus/dnsmasq/lease-hook" in conf
    assert "script-on-renewal" in conf
    hook = home.inputs("dns-lease-hook-write")
    assert hook["mode"] == "0755" and hook["connection"]["host"] == "10.0.0.1"
    assert "-m services.metadata.lease_hook --config /etc/mammatus/dnsmasq/lease-push.yaml" \
        in hook["content"]


def test_the_service_on_control_listens_for_pushes_on_its_lan_address(home):
    config = parse_config(home.named("md-config-write").inputs["content"])
    push = config.identity.lease_push
    assert push.listen == "10.0.0.2:8169"
    assert str(push.secret_file) == "/etc/mammatus/metadata/lease-push.key"
    assert config.identity.leases == []     # the gateway's lease file is not on this host
    key = home.inputs("md-lease-push-key-write")
    assert key["mode"] == "0600" and key["connection"]["host"] == "10.0.0.2"


def test_the_gateway_gets_the_same_key_and_the_url(home):
    hook_key = home.inputs("md-hook-key-write")
    assert hook_key["mode"] == "0600" and hook_key["connection"]["host"] == "10.0.0.1"
    assert hook_key["content"] == home.inputs("md-lease-push-key-write")["content"]
    hook_config = yaml.safe_load(home.inputs("md-hook-config-write")["content"])
    assert hook_config == {"url": "http://10.0.0.2:8169/v1/leases",
                           "secret_file": "/etc/mammatus/dnsmasq/lease-push.key"}


def test_up_syncs_the_whole_lease_file_once_the_service_runs(home):
    sync = home.named("md-lease-sync")
    assert plain(sync.inputs["connection"])["host"] == "10.0.0.1"
    assert sync.inputs["create"].endswith(
        "/etc/mammatus/dnsmasq/lease-hook --sync /var/lib/mammatus/dnsmasq/dnsmasq.leases")


def test_no_push_when_dnsmasq_and_the_service_share_a_host_only_the_pinning():
    ctx = context(stack_spec("lab"))
    mocks, _ = registered(lambda: DhcpDnsTftp("lab-dns", ctx))
    conf = mocks.named("lab-dns-config-write").inputs["content"]
    assert "dhcp-script=/etc/mammatus/dnsmasq/lease-hook" in conf
    hook = mocks.named("lab-dns-lease-hook-write").inputs["content"]
    assert "nud permanent" in hook and "services.metadata.lease_hook" not in hook
