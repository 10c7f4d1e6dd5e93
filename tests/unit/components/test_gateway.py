import pytest

from components.gateway import SYSCTL_PATH, Gateway
from stacks.spec import StackSpec
from tests.support.netlab import context, plain, registered, stack_spec


@pytest.fixture(scope="module")
def lab():
    ctx = context(stack_spec("lab"))
    mocks, gw = registered(lambda: Gateway("lab-gw", ctx))
    return mocks, gw, ctx


def test_ip_forward_is_persisted_and_applied_on_the_gateway_host(lab):
    mocks, _, _ = lab
    conf = mocks.named("lab-gw-ip-forward-conf-write")
    assert conf.inputs["content"].endswith("net.ipv4.ip_forward = 1\n")
    assert SYSCTL_PATH in conf.inputs["path"]
    assert plain(conf.inputs["connection"])["host"] == "10.10.0.1"
    apply = mocks.named("lab-gw-ip-forward")
    assert apply.typ == "command:remote:Command"
    assert f"sysctl -p {SYSCTL_PATH}" in apply.inputs["create"]
    assert apply.inputs["delete"] == "sysctl -w net.ipv4.ip_forward=0"
    assert mocks.named("lab-gw").typ == "mammatus:network:Gateway"


def test_the_nat_rule_is_published_for_the_firewall(lab):
    _, gw, ctx = lab
    route = gw.route
    assert route.host == "gw" and route.lan_address == "10.10.0.1"
    assert route.nat_rules == [
        '-A POSTROUTING -s 10.10.0.0/24 -o enp1s0 -m comment --comment "mammatus:nat" -j MASQUERADE']
    assert route.resource is gw


def test_no_gateway_in_the_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="mammatus:gateway"):
        registered(lambda: Gateway("x", context(StackSpec(runDir="/tmp/x"))))


def test_files_wait_for_the_dev_hosts_and_keep_their_content():
    import pulumi
    import pulumi_command as command

    from components.gateway import SYSCTL_CONF

    def build():
        ready = command.local.Command("hosts-ready-marker", create="true")
        ctx = context(stack_spec("lab"), hosts_ready=[ready])
        Gateway("ready-gw", ctx)
        return ctx

    mocks, ctx = registered(build)
    assert mocks.named("ready-gw-ip-forward-conf-write").inputs["content"] == SYSCTL_CONF
    # Every SSH connection to a host waits for the dev plane; without one it is a plain address.
    assert isinstance(ctx.access("gw").connection().host, pulumi.Output)
    assert context(stack_spec("lab")).access("gw").connection().host == "10.10.0.1"
