"""Broken firewall rules fail preview with one message naming the key."""

from tests.unit.stacks.test_checks import broken


def test_icmp_with_ports():
    def edit(s):
        s["firewall"].append({"name": "ping", "protocol": "icmp", "ports": [8]})
    assert "mammatus:firewall[1].ports: rule 'ping': icmp has no ports" in broken(edit)


def test_duplicate_rule_names():
    def edit(s):
        s["firewall"].append(dict(s["firewall"][0]))
    assert "rule name 'ssh-from-lan' is used twice" in broken(edit)


def test_rules_without_a_gateway():
    def edit(s):
        del s["gateway"], s["network"]
    assert "mammatus:firewall: rules need a gateway" in broken(edit)
