from components.networking import Networking
from tests.support.netlab import context, registered, stack_spec


def test_the_macvlan_profile_of_each_compute_host_is_provided():
    ctx = context(stack_spec("home"))
    mocks, component = registered(lambda: Networking("net", ctx))
    profiles = component.profiles_data
    assert sorted(profiles) == ["compute-1", "compute-2", "compute-3"]
    nic = profiles["compute-2"]["devices"]["eth0"]
    assert (nic["type"], nic["nictype"], nic["parent"]) == ("nic", "macvlan", "eth0")
    assert profiles["compute-2"]["name"] == "macvlan"
    assert mocks.named("net").typ == "mammatus:network:Networking"
