"""Namespaces, a bridge and veth links made by the providers for real; packets cross them."""

import subprocess
import time
import uuid

import dill
import pytest

from dynamic_providers.netplane import (BridgeProvider, IptablesRulesProvider, NetNamespaceProvider,
                                        VethProvider, rules_present, run)

pytestmark = pytest.mark.integration


def ping(netns: str, address: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", netns, "ping", "-c1", "-W1", address],
                          capture_output=True).returncode == 0


@pytest.fixture
def names():
    tag = uuid.uuid4().hex[:6]
    made = []
    yield tag, made
    for ns in made:  # whatever a failed test left behind
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_two_hosts_on_a_switch(names):
    tag, made = names
    nsp = NetNamespaceProvider()
    switch, h1, h2 = (f"mmt-{tag}-{n}" for n in ("sw", "h1", "h2"))
    for ns in (switch, h1, h2):
        nsp.create(nsp.check({}, {"name": ns}).inputs)
        made.append(ns)

    bridge = BridgeProvider()
    br = bridge.create(bridge.check({}, {"bridge": {"netns": switch, "ifname": "br0"}}).inputs)
    veth = VethProvider()
    links = []
    for host, addr in ((h1, "192.0.2.11/24"), (h2, "192.0.2.12/24")):
        props = veth.check({}, {"a": {"netns": host, "ifname": "eth0", "addresses": [addr],
                                      "gateway": "192.0.2.1"},
                                "b": {"netns": switch, "ifname": host[-2:], "master": "br0"}}).inputs
        links.append((veth.create(props), props))

    assert ping(h1, "192.0.2.12") and ping(h2, "192.0.2.11")
    created, props = links[0]
    assert created.outs["a"]["addresses"] == ["192.0.2.11/24"] and created.outs["b"]["master"] == "br0"
    assert veth.read(created.id, props).inputs["a"]["gateway"] == "192.0.2.1"

    # Drift by hand: the link goes down; read sees it and diff wants it back.
    run(["ip", "-n", h1, "link", "set", "eth0", "down"])
    read = veth.read(created.id, props)
    assert read.outs["a"]["up"] is False
    assert veth.diff(created.id, read.inputs, props).changes

    veth.delete(created.id, props)
    assert veth.read(created.id, props).id is None
    bridge.delete(br.id, {"bridge": {"netns": switch, "ifname": "br0"}})
    for ns in (switch, h1, h2):
        nsp.delete(ns, {"name": ns})
        assert nsp.read(ns, {"name": ns}).id is None


def test_namespace_delete_stops_what_runs_inside(names):
    tag, made = names
    ns = f"mmt-{tag}-p"
    provider = dill.loads(dill.dumps(NetNamespaceProvider(), recurse=True))  # as Pulumi ships it
    provider.create({"name": ns})
    made.append(ns)
    sleeper = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "300"])
    for _ in range(50):  # until it has entered the namespace
        if run(["ip", "netns", "pids", ns]).split():
            break
        time.sleep(0.1)
    try:
        provider.delete(ns, {"name": ns})
        assert sleeper.wait(timeout=10) != 0
        assert provider.read(ns, {"name": ns}).id is None
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_a_plane_lost_with_a_reboot_is_an_update_that_makes_it_again(names):
    """What `up` alone does after this machine rebooted: no refresh, the diff looks."""
    tag, made = names
    nsp = dill.loads(dill.dumps(NetNamespaceProvider(), recurse=True))
    switch, host = f"mmt-{tag}-rs", f"mmt-{tag}-rh"
    for ns in (switch, host):
        nsp.create({"name": ns})
        made.append(ns)
    bridge = BridgeProvider()
    br_props = bridge.check({}, {"bridge": {"netns": switch, "ifname": "br0"}}).inputs
    br = bridge.create(br_props)
    veth = VethProvider()
    v_props = veth.check({}, {"a": {"netns": host, "ifname": "eth0", "addresses": ["192.0.2.21/24"]},
                              "b": {"netns": switch, "ifname": "port1", "master": "br0"}}).inputs
    link = veth.create(v_props)
    assert not nsp.diff(switch, {"name": switch}, {"name": switch}).changes
    assert not bridge.diff(br.id, br.outs, br_props).changes
    assert not veth.diff(link.id, link.outs, v_props).changes

    # "Reboot": both namespaces go, and with them the bridge and the link.
    for ns in (switch, host):
        run(["ip", "netns", "del", ns])
    for ns in (switch, host):
        gone = nsp.diff(ns, {"name": ns}, {"name": ns})
        assert gone.changes and gone.replaces == []
        nsp.update(ns, {"name": ns}, {"name": ns})
    gone = bridge.diff(br.id, br.outs, br_props)
    assert gone.changes and gone.replaces == []
    bridge.update(br.id, br.outs, br_props)
    gone = veth.diff(link.id, link.outs, v_props)
    assert gone.changes and gone.replaces == []
    again = veth.update(link.id, link.outs, v_props)
    assert again.outs["a"]["addresses"] == ["192.0.2.21/24"] and again.outs["b"]["master"] == "br0"
    assert not veth.diff(link.id, again.outs, v_props).changes
    assert not bridge.diff(br.id, br.outs, br_props).changes


def test_machine_rules_come_back_when_flushed_and_go_with_delete():
    # An interface name that exists nowhere: the rules match no packet of this machine.
    ifname = f"mmt{uuid.uuid4().hex[:8]}"
    provider = dill.loads(dill.dumps(IptablesRulesProvider(), recurse=True))
    props = provider.check({}, {"rules": [["FORWARD", "-i", ifname, "-j", "DROP"],
                                          ["FORWARD", "-o", ifname, "-j", "DROP"]]}).inputs
    created = provider.create(props)
    try:
        assert rules_present(props["rules"])
        assert not provider.diff(created.id, created.outs, props).changes
        run(["iptables", "-D", "FORWARD", "-o", ifname, "-j", "DROP"])    # lost, as by a reboot
        gone = provider.diff(created.id, created.outs, props)
        assert gone.changes and gone.replaces == []
        provider.update(created.id, created.outs, props)
        listed = run(["iptables", "-S", "FORWARD"])
        assert listed.count(f"-i {ifname} ") == 1 and listed.count(f"-o {ifname} ") == 1
        moved = provider.diff(created.id, created.outs, {"rules": props["rules"][:1]})
        assert moved.replaces == ["rules"]
    finally:
        provider.delete(created.id, props)
    assert ifname not in run(["iptables", "-S", "FORWARD"])
