import pulumi

from tests.support.paths import ROOT
from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()
pulumi.runtime.set_mocks(MOCKS, project="mammatus", stack="dev", preview=False)

from components.dev_box import DevBoxPlane, host_sshd_config, isolation_rules  # noqa: E402
from stacks.load import load_stack_file  # noqa: E402


def dev_spec():
    return load_stack_file(ROOT / "Pulumi.dev.yaml")


def test_dev_hosts_default_to_namespaces_with_their_own_file_roots():
    spec = dev_spec()
    control = spec.host("control")
    assert control.netns == "mm-control" and control.service_manager.value == "direct"
    assert control.file_root == "/var/lib/mammatus/dev/hosts/control"


def test_each_hosts_sshd_is_key_only_and_lives_in_its_file_root():
    config = host_sshd_config(dev_spec().host("control"))
    assert "PasswordAuthentication no" in config
    assert "ListenAddress 198.51.100.2" in config
    assert "HostKey /var/lib/mammatus/dev/hosts/control/etc/ssh/ssh_host_ed25519_key" in config
    assert "AuthorizedKeysFile /var/lib/mammatus/dev/hosts/control/etc/ssh/authorized_keys.d/%u" in config


def test_the_machine_forwards_nothing_from_or_to_the_lan():
    assert isolation_rules("mm-lan0") == [["FORWARD", "-i", "mm-lan0", "-j", "DROP"],
                                          ["FORWARD", "-o", "mm-lan0", "-j", "DROP"]]


@pulumi.runtime.test
def test_plane_wires_gateway_between_wan_and_lan():
    plane = DevBoxPlane("box", dev_spec(), "ssh-ed25519 AAAA")

    def check(_):
        wan = MOCKS.inputs("box-gateway-wan")
        assert wan["a"]["netns"] == "mm-gateway" and wan["a"]["ifname"] == "wan0"
        assert wan["a"]["gateway"] == "192.0.2.1" and wan["b"]["netns"] == "mm-wan"
        lan = MOCKS.inputs("box-control-lan")
        assert lan["a"]["addresses"] == ["198.51.100.2/24"] and lan["a"]["gateway"] == "198.51.100.1"
        assert lan["b"]["master"] == "br0"
        machine = MOCKS.inputs("box-machine-link")
        assert machine["a"] == {"netns": "", "ifname": "mm-lan0", "addresses": ["198.51.100.254/24"]}
        sshd = MOCKS.inputs("box-storage-sshd")
        assert sshd["netns"] == "mm-storage" and "/usr/sbin/sshd -D" in sshd["argv"][-1]
    return plane.ready.apply(check)
