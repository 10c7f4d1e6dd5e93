import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.compute import Compute  # noqa: E402
from components.configuration import Configuration  # noqa: E402
from components.contracts import DhcpServer, WiringError  # noqa: E402
from components.context import CloudContext  # noqa: E402
from components.metadata import Metadata  # noqa: E402
from services.metadata.config import parse_config  # noqa: E402
from services.metadata.inventory import parse_inventory  # noqa: E402
from stacks.spec import StackSpec  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402

VENDOR = {"consul": {"agent": {"datacenter": "lab", "retry_join": ["10.10.0.1"]}}}


@pytest.fixture(scope="module")
def layers():
    base = stack_spec("lab").model_dump(by_alias=True)
    base["instances"][0]["mac"] = "52:54:00:aa:00:01"
    ctx = CloudContext(StackSpec.model_validate(base), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    ctx.vendor_data.settings.update(VENDOR)
    compute = Compute("md-cmp", ctx)
    config = Configuration("md-cfg", ctx)
    dhcp = DhcpServer(target={"lease_file": "/var/lib/misc/dnsmasq.leases"},
                      resource=config, lease_hook={}, dns_address="10.10.0.1", domain="lab")
    metadata = Metadata("md", ctx, inventory=config.inventory, dhcp=dhcp)
    return compute, config, metadata, ctx


def settled(layers):
    _, config, metadata, _ = layers
    return pulumi.Output.all(config.urn, metadata.urn, config.inventory, metadata.config, metadata.url,
                             metadata.inventory_path)


@pulumi.runtime.test
def test_configuration_inventory_has_the_instances_user_data_and_mac(layers):
    def check(args):
        assert args[0].endswith("mammatus:config:Configuration::md-cfg")
        (web,) = parse_inventory(args[2])
        assert web.name == "web-1" and web.macs == ("52:54:00:aa:00:01",)
        assert "nginx" in web.user_data and web.ssh_keys == ("ssh-ed25519 AAAA",)
        assert MOCKS.inputs("md-inventory-write")["content"] == args[2]
    return settled(layers).apply(check)


@pulumi.runtime.test
def test_metadata_service_config_leases_and_vendor_data(layers):
    def check(args):
        assert args[1].endswith("mammatus:metadata:Metadata::md")
        config = parse_config(args[3])
        # Instances look for it at the link-local address, on the gateway's LAN port.
        assert config.listen == "169.254.169.254:80" and args[4] == "http://169.254.169.254:80"
        assert MOCKS.inputs("md-address")["create"] == \
            "ip addr replace 169.254.169.254/32 dev enp2s0"
        # metadata and dnsmasq share the gateway in the lab: leases identify instances.
        assert [str(p) for p in config.identity.leases] == ["/var/lib/misc/dnsmasq.leases"]
        assert config.vendor_data.consul.agent["datacenter"] == "lab"
        assert str(config.tokens.secret_file) == "/etc/mammatus/metadata/token.key"
        run = MOCKS.inputs("md-service-run")["create"]
        assert "-m services.metadata --listen 169.254.169.254:80 --config /etc/mammatus/metadata/metadata.yaml" in run
        assert MOCKS.inputs("md-token-key-write")["mode"] == "0600"
    return settled(layers).apply(check)


def test_metadata_away_from_dnsmasq_needs_the_dhcp_servers_lease_hook():
    ctx = CloudContext(stack_spec("home"), "KEY", "ssh-ed25519 AAAA")
    with pytest.raises(WiringError, match="lease hook"):
        Metadata("md-bad", ctx, inventory="instances: []\n")


@pulumi.runtime.test
def test_the_service_runs_as_its_own_user_which_alone_reads_the_inventory_and_keys(layers):
    def check(_):
        assert "useradd --system" in MOCKS.inputs("md-user")["create"]
        for f in ("md-inventory-write", "md-token-key-write"):
            written = MOCKS.inputs(f)
            assert (written["mode"], written["owner"]) == ("0600", "mammatus-metadata:mammatus-metadata")
        unit = MOCKS.inputs("md-service-run")["create"]
        assert "User=mammatus-metadata" in unit and "CAP_NET_BIND_SERVICE" in unit
        # Its address comes back with it after a reboot (as root, before the unprivileged start).
        assert "ExecStartPre=+/sbin/ip addr replace 169.254.169.254/32 dev enp2s0" in unit
    return settled(layers).apply(check)
