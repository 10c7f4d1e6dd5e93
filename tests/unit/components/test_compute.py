import pulumi
import pytest
import yaml

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.compute import Compute  # noqa: E402
from components.context import CloudContext  # noqa: E402
from components.contracts import DhcpServer, MetadataService  # noqa: E402
from components.render import cloud_config  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402

DYN = "pulumi-python:dynamic/mammatus:"


@pytest.fixture(scope="module")
def compute():
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    profiles = {
        "compute-1": {"name": "macvlan", "description": "d", "config": {},
                      "devices": {"eth0": {"type": "nic", "nictype": "macvlan", "parent": "enp3s0",
                                           "name": "eth0"}}}}
    return Compute("cmp", ctx, macvlan_profiles=profiles), ctx


def settled(c):
    return pulumi.Output.all(c.urn, c.hosts, c.endpoints, c.instances)


@pulumi.runtime.test
def test_lxd_init_and_trust_on_every_compute_host(compute):
    comp, _ = compute

    def check(args):
        urn, hosts, endpoints = args[0], args[1], args[2]
        assert urn.endswith("mammatus:compute:Compute::cmp")
        assert hosts == ["compute-1", "compute-2", "compute-3"]
        assert endpoints["compute-2"] == "https://10.0.0.12:8443"
        pre = yaml.safe_load(MOCKS.inputs("cmp-compute-2-preseed-write")["content"])
        assert pre["config"]["core.https_address"] == "10.0.0.12:8443"
        assert pre["storage_pools"] == [{"name": "default", "driver": "dir"}]
        assert "networks" not in pre         # no bridge: instances use macvlan
        init = MOCKS.inputs("cmp-compute-2-lxd-init")
        assert "lxd init --preseed <" in init["create"] and "lxc config trust add" in init["create"]
        assert "--auto" not in init["create"]
        assert MOCKS.named("cmp-lxd-client-cert").inputs["allowedUses"] == ["digital_signature", "client_auth"]
    return settled(comp).apply(check)


@pulumi.runtime.test
def test_macvlan_profile_from_networking_or_the_hosts_lan_interface(compute):
    def check(_):
        profile = MOCKS.inputs("cmp-compute-1-profile-macvlan")
        assert MOCKS.named("cmp-compute-1-profile-macvlan").typ == DYN + "LxdProfile"
        assert profile["devices"]["eth0"]["parent"] == "enp3s0"
        assert profile["connection"]["endpoint"] == "https://10.0.0.11:8443"
        assert "server_cert" in profile["connection"] and "client_key" in profile["connection"]
        rendered = MOCKS.inputs("cmp-compute-3-profile-macvlan")
        assert rendered["devices"]["eth0"]["nictype"] == "macvlan"
        assert rendered["devices"]["eth0"]["parent"] == "eth0"   # the spec's default lanInterface
    return settled(compute[0]).apply(check)


@pulumi.runtime.test
def test_instances_get_size_user_data_and_profiles(compute):
    comp, ctx = compute

    def check(args):
        inst = MOCKS.inputs("cmp-instance-db-1")
        assert MOCKS.named("cmp-instance-db-1").typ == DYN + "LxdInstance"
        assert inst["size"] == {"cpus": 2, "memory_mb": 2048, "disk_gb": 20}
        assert inst["profiles"] == ["default", "macvlan"]
        assert inst["image"] == "debian-bookworm"
        assert cloud_config.parse(inst["user_data"])["fqdn"] == "db-1.mammatus"
        web = cloud_config.parse(MOCKS.inputs("cmp-instance-web-1")["user_data"])
        assert web["packages"] == ["nginx"]
        # Real hosts boot Mammatus' own image too (cloud-init from the metadata service only),
        # built once for the cloud and uploaded to each host's LXD.
        built = MOCKS.named("cmp-image-debian-bookworm")
        assert built.typ == DYN + "RootfsImage"
        assert "seedfrom: http://169.254.169.254/nocloud/" in built.inputs["cloud_cfg"]
        assert "server" not in MOCKS.inputs("cmp-compute-1-image-debian-bookworm")["source"]
        assert set(args[3]) == {"web-1", "web-2", "db-1"}
        assert args[3]["db-1"]["host"] == "compute-3"
    return settled(comp).apply(check)


@pulumi.runtime.test
def test_dev_compute_runs_its_distributions_lxd_and_boots_the_built_image_after_the_metadata_service():
    spec = stack_spec("dev")
    host = spec.host("compute")
    ctx = CloudContext(spec, pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    metadata = pulumi.CustomResource("test:index:Service", "md-service")
    dhcp = DhcpServer(target={"connection": None, "dhcp_hosts_dir": "/etc/d", "lease_file": "/l",
                              "pid_file": "/run/dnsmasq.pid"},
                      resource=metadata, lease_hook={}, dns_address="10.0.0.1", domain="mammatus")
    comp = Compute("cmp-dev", ctx, metadata=MetadataService("http://169.254.169.254:80", metadata),
                   dhcp=dhcp)

    def check(_):
        names = {r.name for r in MOCKS.resources}
        assert "cmp-dev-compute-lxd-run" not in names     # no LXD daemon of Mammatus' own
        assert "/etc/subuid" in MOCKS.inputs("cmp-dev-compute-lxd-subids")["create"]
        init = MOCKS.inputs("cmp-dev-compute-lxd-init")["create"]
        assert init.startswith("export LXD_DIR=/var/lib/lxd && ")
        assert "< /etc/mammatus/lxd/preseed.yaml" in init
        assert MOCKS.named("cmp-dev-image-debian-bookworm").typ == DYN + "RootfsImage"
        assert "server" not in MOCKS.inputs("cmp-dev-compute-image-debian-bookworm")["source"]
        web = MOCKS.named("cmp-dev-instance-web-1")
        assert web.inputs["mac"] == spec.instance_mac(spec.instances[0])
        assert web.inputs["address_timeout"] == 120   # `up` waits for its DHCP lease
        # dnsmasq names it by that MAC, its address left to the range
        named = MOCKS.named("cmp-dev-dhcp-name-web-1")
        assert named.typ == DYN + "DnsmasqReservation"
        assert (named.inputs["mac"], named.inputs["hostname"], named.inputs.get("address")) == \
            (web.inputs["mac"], "web-1", None)
        profile = MOCKS.inputs("cmp-dev-compute-profile-macvlan")
        assert profile["devices"]["eth0"]["parent"] == host.lan_interface
    return pulumi.Output.all(comp.urn, comp.instances).apply(check)
