import json

from dynamic_providers import netplane

from dynamic_providers.netplane import (NetNamespaceProvider, VethProvider, bridge_create, drifted,
                                        endpoint, parse_endpoint, parse_netns_list, veth_create)


def test_veth_ends_are_born_in_their_namespaces():
    a = endpoint({"netns": "mm-gw", "ifname": "lan0", "addresses": ["10.9.0.1/24"],
                  "gateway": "10.9.0.254"})
    b = endpoint({"netns": "mm-lan", "ifname": "gw", "master": "br0"})
    cmds = veth_create(a, b)
    assert cmds[0] == ["ip", "link", "add", "lan0", "netns", "mm-gw", "type", "veth",
                       "peer", "name", "gw", "netns", "mm-lan"]
    assert ["ip", "-n", "mm-gw", "addr", "add", "10.9.0.1/24", "dev", "lan0"] in cmds
    assert ["ip", "-n", "mm-lan", "link", "set", "gw", "master", "br0"] in cmds
    assert cmds[-1] == ["ip", "-n", "mm-lan", "link", "set", "gw", "up"]
    assert ["ip", "-n", "mm-gw", "route", "replace", "default", "via", "10.9.0.254", "dev", "lan0"] in cmds


def test_the_machines_own_namespace_is_pid_1s():
    cmds = veth_create(endpoint({"ifname": "mm-lan0"}), endpoint({"netns": "x", "ifname": "y"}))
    assert cmds[0][3:6] == ["mm-lan0", "netns", "1"]
    assert bridge_create(endpoint({"ifname": "br0"}))[0] == ["ip", "link", "add", "br0", "type", "bridge"]


def test_parsers_read_ip_json():
    assert parse_netns_list('[{"name":"a"},{"name":"b","id":0}]') == ["a", "b"]
    text = json.dumps([{"ifname": "lan0", "flags": ["BROADCAST", "UP"], "master": "br0",
                        "address": "aa:bb:cc:00:11:22",
                        "addr_info": [{"family": "inet", "local": "10.9.0.1", "prefixlen": 24},
                                      {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]}])
    routes = '[{"dst":"default","gateway":"10.9.0.254","dev":"lan0"}]'
    assert parse_endpoint("ns", text, routes) == {
        "netns": "ns", "ifname": "lan0", "master": "br0", "gateway": "10.9.0.254",
        "addresses": ["10.9.0.1/24"], "mac": "aa:bb:cc:00:11:22", "up": True}
    assert parse_endpoint("ns", "[]") is None


def test_diff_sees_changed_addresses_and_links_left_down():
    want = endpoint({"netns": "n", "ifname": "i", "addresses": ["10.0.0.1/24"]})
    assert not drifted({**want, "up": True}, want)
    assert drifted({**want, "up": False}, want)
    assert drifted({**want, "addresses": []}, want)


def test_check_names_the_bad_property():
    result = VethProvider().check({}, {"a": {"ifname": "x" * 16}, "b": {"ifname": "ok",
                                                                        "addresses": ["10.0.0.1"]}})
    assert {f.property for f in result.failures} == {"a.ifname", "b.addresses"}
    assert NetNamespaceProvider().check({}, {"name": "a/b"}).failures


def test_a_failed_step_undoes_the_link(monkeypatch):
    import pytest

    from dynamic_providers import netplane

    ran = []

    def fake_run(argv, check=True):
        ran.append(argv)
        if "master" in argv:
            raise netplane.IpError("no bridge")
        return ""

    monkeypatch.setattr(netplane, "run", fake_run)
    with pytest.raises(netplane.IpError):
        netplane.run_all_or_undo([["add"], ["set", "master", "br0"], ["up"]], ["del"])
    assert ran == [["add"], ["set", "master", "br0"], ["del"]]


def test_a_read_reports_only_what_the_resource_manages():
    from dynamic_providers.netplane import managed_view
    found = {"netns": "g", "ifname": "lan0", "master": "", "mac": "aa", "up": True,
             "gateway": "198.51.100.1",
             "addresses": ["198.51.100.1/24", "169.254.169.254/32"]}   # + the metadata address
    wanted = {"addresses": ["198.51.100.1/24"], "gateway": ""}
    view = managed_view(found, wanted)
    assert view["addresses"] == ["198.51.100.1/24"] and view["gateway"] == ""
    # a managed address that went away is drift
    gone = managed_view({**found, "addresses": []}, wanted)
    assert gone["addresses"] == []
    assert managed_view(None, wanted) is None


def test_machine_rules_name_their_chain_and_are_checked():
    rules = [["FORWARD", "-i", "mm-lan0", "-j", "DROP"]]
    assert netplane.rule_argvs("-C", rules) == [["iptables", "-C", "FORWARD", "-i", "mm-lan0", "-j", "DROP"]]
    provider = netplane.IptablesRulesProvider()
    assert provider.check({}, {"rules": rules}).failures == []
    assert [f.property for f in provider.check({}, {"rules": [["FORWARD"]]}).failures] == ["rules"]
