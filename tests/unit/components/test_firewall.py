import dataclasses

import pytest

from components.firewall import Firewall
from components.gateway import Gateway
from components.render import iptables
from tests.support.netlab import context, plain, registered, stack_spec


def build(spec, name="fw"):
    ctx = context(spec)
    def wire():
        gateway = Gateway(f"{name}-gw", ctx)
        return gateway, Firewall(name, ctx, gateway=gateway.route)
    return registered(wire)


@pytest.fixture(scope="module")
def home():
    return build(stack_spec("home"))


def test_one_rules_file_with_nat_and_default_deny(home):
    mocks, _ = home
    write = mocks.named("fw-rules-write")
    text = write.inputs["content"]
    assert text == iptables.render(stack_spec("home"))
    assert '-A POSTROUTING -s 10.0.0.0/24 -o eth0 -m comment --comment "mammatus:nat" -j MASQUERADE' in text
    assert ":INPUT DROP [0:0]" in text and ":FORWARD DROP [0:0]" in text
    assert "/etc/iptables/rules.v4" in write.inputs["path"] and write.inputs["mode"] == "0640"
    assert plain(write.inputs["connection"])["host"] == "10.0.0.1"


def test_applied_atomically_after_a_test_and_reapplied_when_the_file_changes(home):
    mocks, _ = home
    apply = mocks.named("fw-apply")
    create = apply.inputs["create"]
    assert ("iptables-restore --test /etc/iptables/rules.v4 && ip6tables-restore --test "
            "/etc/iptables/rules.v6 && iptables-restore /etc/iptables/rules.v4 && "
            "ip6tables-restore /etc/iptables/rules.v6") in create
    assert create.startswith("# rules ")  # the digest: a new file means a new command text
    other = build(stack_spec("lab"), "lab-fw")[0].named("lab-fw-apply").inputs["create"]
    assert other.splitlines()[0] != create.splitlines()[0]
    # What was there before is kept first, and is what a delete brings back (never all-ACCEPT).
    assert create.index("iptables-save > /var/lib/mammatus/firewall/before.v4") < create.index("iptables-restore")
    assert "ip6tables-save > /var/lib/mammatus/firewall/before.v6" in create
    delete = apply.inputs["delete"]
    assert "iptables-restore < /var/lib/mammatus/firewall/before.v4" in delete
    assert ":FORWARD ACCEPT" not in delete and ":FORWARD DROP" in delete


def test_ipv6_is_denied_on_the_wan_as_ipv4_is(home):
    mocks, _ = home
    write = mocks.named("fw-rules-v6-write")
    assert write.inputs["content"] == iptables.render_v6(stack_spec("home"))
    assert write.inputs["path"] == "/etc/iptables/rules.v6"


def test_systemd_hosts_restore_the_rules_at_boot(home):
    mocks, _ = home
    unit = mocks.named("fw-boot-unit-write").inputs["content"]
    assert "ExecStart=/usr/sbin/iptables-restore /etc/iptables/rules.v4" in unit
    assert "ExecStart=/usr/sbin/ip6tables-restore /etc/iptables/rules.v6" in unit
    assert "systemctl enable --now mammatus-iptables.service" in mocks.named("fw-boot-enable").inputs["create"]
    assert mocks.named("fw").typ == "mammatus:network:Firewall"


def test_a_nat_rule_the_file_would_lack_is_refused():
    ctx = context(stack_spec("lab"))

    def wire():
        gateway = Gateway("gw", ctx)
        odd = dataclasses.replace(gateway.route, nat_rules=["-A POSTROUTING -j SNAT --to 192.0.2.9"])
        return Firewall("fw", ctx, gateway=odd)
    with pytest.raises(ValueError, match="lacks the gateway's NAT rules"):
        registered(wire)
