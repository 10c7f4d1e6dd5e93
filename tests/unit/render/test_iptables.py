import pytest

from components.render import iptables
from stacks.spec import FirewallRule, StackSpec
from tests.support.netlab import stack_spec


def with_rules(spec: StackSpec, *rules: dict) -> StackSpec:
    return spec.model_copy(update={"firewall": [FirewallRule(**r) for r in rules]})


def test_nat_masquerades_the_lan_subnet_out_of_the_wan_port():
    spec = stack_spec("lab")
    assert iptables.masquerade_rule(spec) == (
        '-A POSTROUTING -s 10.10.0.0/24 -o enp1s0 -m comment --comment "mammatus:nat" -j MASQUERADE')
    assert iptables.nat_rules(spec) == [iptables.masquerade_rule(spec)]


def test_default_deny_policies_and_the_fixed_accepts_surround_the_typed_rules():
    text = iptables.render(stack_spec("lab"))
    filter_table = text.split("*filter\n", 1)[1]
    assert ":INPUT DROP [0:0]" in filter_table and ":FORWARD DROP [0:0]" in filter_table
    assert ":OUTPUT ACCEPT [0:0]" in filter_table
    lines = [line for line in filter_table.splitlines() if line.startswith("-A INPUT")]
    assert lines[0] == "-A INPUT -i lo -j ACCEPT"
    assert "ESTABLISHED,RELATED" in lines[1]
    assert "mammatus:ssh-from-lan" in lines[2] and "-i enp2s0" in lines[2]
    assert lines[-1].startswith("-A INPUT -i enp2s0 ") and lines[-1].endswith("-j ACCEPT")
    # Nothing accepts from the WAN port: it falls to the DROP policy.
    assert not any("-i enp1s0" in line for line in lines)
    forwards = [line for line in filter_table.splitlines() if line.startswith("-A FORWARD")]
    assert forwards[-1] == ('-A FORWARD -i enp2s0 -o enp1s0 -s 10.10.0.0/24 -m comment '
                            '--comment "mammatus:lan-to-wan" -j ACCEPT')
    assert text.count("COMMIT") == 2 and text.index("*nat") < text.index("*filter")


def test_rules_keep_their_order_and_render_every_field():
    spec = with_rules(
        stack_spec("lab"),
        {"name": "web", "chain": "input", "fromZone": "wan", "protocol": "tcp", "ports": [80, 443],
         "source": "198.51.100.0/24"},
        {"name": "no-dns", "chain": "input", "fromZone": "any", "protocol": "udp", "ports": [53],
         "action": "reject"},
        {"name": "ping", "chain": "input", "fromZone": "wan", "protocol": "icmp", "action": "drop"})
    inputs, _ = iptables.filter_rules(spec)
    typed = inputs[2:5]
    assert typed == [
        '-A INPUT -i enp1s0 -s 198.51.100.0/24 -p tcp -m multiport --dports 80,443 '
        '-m comment --comment "mammatus:web" -j ACCEPT',
        '-A INPUT -p udp --dport 53 -m comment --comment "mammatus:no-dns" -j REJECT',
        '-A INPUT -i enp1s0 -p icmp -m comment --comment "mammatus:ping" -j DROP',
    ]


def test_a_wan_forward_to_one_lan_host_is_a_port_forward():
    spec = stack_spec("home")
    nat = iptables.nat_rules(spec)
    assert nat[0] == ('-A PREROUTING -i eth0 -p tcp --dport 443 -m comment '
                      '--comment "mammatus:https-in" -j DNAT --to-destination 10.0.0.2')
    _, forwards = iptables.filter_rules(spec)
    assert ('-A FORWARD -i eth0 -d 10.0.0.2/32 -p tcp --dport 443 -m comment '
            '--comment "mammatus:https-in" -j ACCEPT') in forwards


def test_a_forward_to_a_subnet_is_not_a_port_forward():
    spec = with_rules(stack_spec("home"), {"name": "x", "chain": "forward", "ports": [22],
                                           "destination": "10.0.0.0/28"})
    assert iptables.nat_rules(spec) == [iptables.masquerade_rule(spec)]


def test_icmp_with_ports_is_refused_with_the_rule_name():
    spec = with_rules(stack_spec("lab"), {"name": "bad", "protocol": "icmp", "ports": [1]})
    with pytest.raises(ValueError, match="'bad'"):
        iptables.render(spec)


def test_a_cloud_without_gateway_has_no_firewall():
    with pytest.raises(ValueError, match="mammatus:gateway"):
        iptables.render(StackSpec(runDir="/tmp/x"))


def test_ipv6_denies_the_wan_and_keeps_what_ipv6_needs():
    spec = stack_spec("home")
    text = iptables.render_v6(spec)
    assert ":INPUT DROP [0:0]" in text and ":FORWARD DROP [0:0]" in text
    for icmp in (135, 136):  # neighbour solicitation/advertisement: no IPv6 without them
        assert f"--icmpv6-type {icmp} -j ACCEPT" in text
    assert '-A INPUT -i eth1 -m comment --comment "mammatus:lan" -j ACCEPT' in text
    assert "*nat" not in text  # the cloud routes no IPv6


def test_only_address_free_input_rules_carry_over_to_ipv6():
    spec = stack_spec("lab").model_copy(update={"firewall": [
        FirewallRule(name="web-in", chain="input", fromZone="wan", protocol="tcp", ports=[8443]),
        FirewallRule(name="one-peer", chain="input", fromZone="wan", protocol="tcp", ports=[22],
                     source="192.0.2.7/32"),
        FirewallRule(name="ping", chain="input", fromZone="wan", protocol="icmp")]})
    text = iptables.render_v6(spec)
    assert '"mammatus:web-in"' in text and '"mammatus:one-peer"' not in text
    assert "-p ipv6-icmp -m comment --comment \"mammatus:ping\"" in text
