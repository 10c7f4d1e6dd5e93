import pulumi

from tests.support.paths import ROOT
from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.dev_box import (CGROUP_V1_UNIT_PATH, DevBoxPlane, host_interfaces,  # noqa: E402
                                host_nics, host_resolv_conf, isolation_rules)
from stacks.spec import DevBox  # noqa: E402

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"   # Pulumi's marker of a secret value
from stacks.load import load_stack_file  # noqa: E402


def dev_spec():
    return load_stack_file(ROOT / "Pulumi.dev.yaml")


def test_dev_hosts_are_plain_hosts_with_pinned_keys_of_the_plane():
    control = dev_spec().host("control")
    assert control.host_key is None and control.ssh_user == "root"


def test_the_gateway_has_its_lan_and_wan_ports_on_the_two_bridges():
    spec = dev_spec()
    assert host_nics(spec, spec.host("gateway")) == [
        {"device": "lan", "bridge": "br0", "ifname": "lan0"},
        {"device": "wan", "bridge": "brwan", "ifname": "wan0"}]
    assert host_nics(spec, spec.host("storage")) == [
        {"device": "lan", "bridge": "br0", "ifname": "eth0"}]


def test_each_host_gets_the_network_config_an_installer_leaves():
    spec, box = dev_spec(), DevBox()
    gateway = host_interfaces(spec, box, spec.host("gateway"))
    assert "iface lan0 inet static\n    address 198.51.100.1/24\n" in gateway
    assert "iface wan0 inet static\n    address 192.0.2.2/24\n    gateway 192.0.2.1\n" in gateway
    control = host_interfaces(spec, box, spec.host("control"))
    assert control == ("auto eth0\niface eth0 inet static\n    address 198.51.100.2/24\n"
                       "    gateway 198.51.100.1\n")
    assert host_resolv_conf(spec, box, spec.host("control")) == \
        "search dev.mammatus\nnameserver 198.51.100.1\n"


def test_the_machine_forwards_nothing_from_or_to_the_lan():
    assert isolation_rules("mm-lan0") == [["FORWARD", "-i", "mm-lan0", "-j", "DROP"],
                                          ["FORWARD", "-o", "mm-lan0", "-j", "DROP"]]


@pulumi.runtime.test
def test_plane_makes_a_container_per_host_with_pinned_keys_on_the_bridges():
    plane = DevBoxPlane("box", dev_spec(), "ssh-ed25519 AAAAadmin")

    def check(_):
        machine = MOCKS.inputs("box-machine-link")
        assert machine["a"] == {"netns": "", "ifname": "mm-lan0", "addresses": ["198.51.100.254/24"]}
        uplink = MOCKS.inputs("box-upstream-link")
        assert uplink["a"]["netns"] == "mm-wan" and uplink["b"]["master"] == "brwan"
        lxd = MOCKS.inputs("box-lxd")
        assert lxd["netns"] == "mm-lan" and "LXD_DIR=/var/lib/mammatus/dev/box/lxd" in lxd["argv"]
        gateway = MOCKS.inputs("box-gateway")
        assert gateway["name"] == "mm-gateway" and gateway["address"] == "198.51.100.1"
        assert not gateway["nesting"] and gateway["after_boot"] == []
        files = {f["path"]: f for f in gateway["files"]}
        assert files["/etc/ssh/ssh_host_ed25519_key"]["mode"] == "0600"
        assert files["/root/.ssh/authorized_keys"]["content"] == "ssh-ed25519 AAAAadmin\n"
        assert "/etc/ssh/ssh_host_rsa_key" in gateway["remove"]
        compute = MOCKS.inputs("box-compute")
        assert compute["nesting"] and CGROUP_V1_UNIT_PATH in {f["path"] for f in compute["files"]}
        # The host key goes into the state only as a secret.
        registered = MOCKS.named("box-gateway").inputs["files"]
        assert SECRET_SIG in str(registered)
    return pulumi.Output.all(*[h.urn for h in plane.hosts.values()]).apply(check)
