import pytest
from pydantic import ValidationError

from components.render import lxd_profiles
from stacks.spec import Host
from tests.support.netlab import stack_spec


def test_the_profile_is_one_macvlan_nic_on_the_parent():
    profile = lxd_profiles.macvlan_profile("enp3s0")
    assert profile["name"] == "macvlan"
    assert profile["devices"] == {"eth0": {"type": "nic", "nictype": "macvlan", "parent": "enp3s0",
                                           "name": "eth0"}}
    assert profile["config"] == {}
    assert lxd_profiles.macvlan_profile("eth1", mtu=9000)["devices"]["eth0"]["mtu"] == "9000"


def test_one_profile_per_compute_host_on_its_lan_interface():
    spec = stack_spec("lab")
    hosts = [h.model_copy(update={"lan_interface": "enp5s0"}) if h.name == "node-2" else h
             for h in spec.hosts]
    profiles = lxd_profiles.macvlan_profiles(spec.model_copy(update={"hosts": hosts}))
    assert sorted(profiles) == ["node-1", "node-2"]
    assert profiles["node-1"]["devices"]["eth0"]["parent"] == "eth0"
    assert profiles["node-2"]["devices"]["eth0"]["parent"] == "enp5s0"


def test_the_lan_interface_is_validated_as_an_interface_name():
    with pytest.raises(ValidationError, match="lanInterface|lan_interface"):
        Host.model_validate({"name": "n", "address": "10.0.0.5", "roles": ["compute"],
                             "lanInterface": "not an interface name"})
