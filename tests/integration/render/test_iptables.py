"""The rendered iptables-restore file against the real iptables, inside test namespaces."""

import subprocess

import pytest

from components.render import iptables
from stacks.spec import FirewallRule
from tests.support.netlab import netns, run, stack_spec, veth

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("stack", ["lab", "home"])
@pytest.mark.parametrize("restore, render", [("iptables-restore", iptables.render),
                                             ("ip6tables-restore", iptables.render_v6)])
def test_the_restore_tool_accepts_the_rendered_file(stack, restore, render, tmp_path):
    rules = tmp_path / "rules"
    rules.write_text(render(stack_spec(stack)))
    with netns() as ns:
        result = run(restore, "--test", str(rules), netns=ns, check=False)
        assert result.returncode == 0, result.stderr


def test_iptables_restore_rejects_a_broken_file(tmp_path):
    rules = tmp_path / "rules.v4"
    rules.write_text(iptables.render(stack_spec("lab")).replace("--dport 22", "--dport 99999"))
    with netns() as ns:
        assert run("iptables-restore", "--test", str(rules), netns=ns, check=False).returncode != 0


def test_applied_rules_are_what_iptables_save_shows(tmp_path):
    spec = stack_spec("home")
    rules = tmp_path / "rules.v4"
    rules.write_text(iptables.render(spec))
    with netns() as ns:
        run("iptables-restore", str(rules), netns=ns)
        saved = run("iptables-save", netns=ns).stdout
        # Applying it twice is the same (iptables-restore flushes each table it restores).
        run("iptables-restore", str(rules), netns=ns)
        again = run("iptables-save", netns=ns).stdout
    assert ":INPUT DROP" in saved and ":FORWARD DROP" in saved
    assert '-A POSTROUTING -s 10.0.0.0/24 -o eth0 -m comment --comment "mammatus:nat" -j MASQUERADE' in saved
    assert "-j DNAT --to-destination 10.0.0.2" in saved
    assert '-A INPUT -i eth1 -p tcp -m tcp --dport 22 -m comment --comment "mammatus:ssh-from-lan" -j ACCEPT' in saved
    def rules_only(text):
        return [line for line in text.splitlines() if line.startswith("-A")]
    assert rules_only(saved) == rules_only(again)
    assert len(rules_only(saved)) == len([line for line in rules.read_text().splitlines() if line.startswith("-A")])


def _listen_and_probe(gw: str, client: str, address: str, port: int) -> bool:
    """Starts a TCP listener in the gateway namespace and connects to it from the client one."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", gw, "python3", "-c",
         "import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
         f"s.bind(('0.0.0.0',{port}));s.listen();print('up',flush=True);"
         "c,_=s.accept();c.close()"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "up"
        probe = run("python3", "-c",
                    "import socket;s=socket.socket();s.settimeout(2);"
                    f"s.connect(('{address}',{port}));print('connected')",
                    netns=client, check=False)
        return probe.returncode == 0
    finally:
        server.kill()
        server.wait()


def test_the_wan_is_denied_and_the_lan_is_allowed_for_real(tmp_path):
    """Packets, not text: a gateway namespace with a WAN and a LAN port, a client on each side."""
    spec = stack_spec("lab").model_copy(update={"firewall": [
        FirewallRule(name="web-in", chain="input", fromZone="wan", protocol="tcp", ports=[8443])]})
    rules = tmp_path / "rules.v4"
    rules.write_text(iptables.render(spec))
    with netns("gw") as gw, netns("wan") as wan, netns("lan") as lan:
        veth(gw, "enp1s0", "198.51.100.1/24", wan, "eth0", "198.51.100.2/24")
        veth(gw, "enp2s0", "10.10.0.1/24", lan, "eth0", "10.10.0.50/24")
        run("iptables-restore", str(rules), netns=gw)
        assert _listen_and_probe(gw, lan, "10.10.0.1", 2222), "LAN -> gateway must be accepted"
        assert not _listen_and_probe(gw, wan, "198.51.100.1", 2222), "WAN -> gateway must be dropped"
        assert _listen_and_probe(gw, wan, "198.51.100.1", 8443), "the typed rule opens 8443 from WAN"


def _serve_once(ns: str, port: int) -> subprocess.Popen:
    """A one-connection TCP server in `ns` that prints the peer's address when it connects."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", ns, "python3", "-c",
         "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
         f"s.bind(('0.0.0.0',{port}));s.listen();print('up',flush=True);"
         "c,a=s.accept();print(a[0],flush=True);c.close()"],
        stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "up"
    return server


def _connect(ns: str, address: str, port: int) -> bool:
    return run("python3", "-c", "import socket;s=socket.socket();s.settimeout(2);"
               f"s.connect(('{address}',{port}))", netns=ns, check=False).returncode == 0


def test_nat_masquerades_the_lan_and_port_forwards_reach_one_lan_host(tmp_path):
    spec = stack_spec("lab").model_copy(update={"firewall": [
        FirewallRule(name="web-fwd", chain="forward", fromZone="wan", protocol="tcp", ports=[8443],
                     destination="10.10.0.50/32")]})
    rules = tmp_path / "rules.v4"
    rules.write_text(iptables.render(spec))
    with netns("gw") as gw, netns("wan") as wan, netns("lan") as lan:
        veth(gw, "enp1s0", "198.51.100.1/24", wan, "eth0", "198.51.100.2/24")
        veth(gw, "enp2s0", "10.10.0.1/24", lan, "eth0", "10.10.0.50/24")
        run("ip", "route", "add", "default", "via", "10.10.0.1", netns=lan)
        # The WAN side even knows a route to the LAN: only the firewall keeps it out.
        run("ip", "route", "add", "10.10.0.0/24", "via", "198.51.100.1", netns=wan)
        run("sysctl", "-qw", "net.ipv4.ip_forward=1", netns=gw)
        run("iptables-restore", str(rules), netns=gw)

        # LAN -> WAN goes out with the gateway's WAN address.
        server = _serve_once(wan, 8080)
        try:
            assert _connect(lan, "198.51.100.2", 8080)
            assert server.stdout.readline().strip() == "198.51.100.1"
        finally:
            server.kill()
            server.wait()

        # WAN -> LAN directly: dropped.
        server = _serve_once(lan, 9090)
        try:
            assert not _connect(wan, "10.10.0.50", 9090)
        finally:
            server.kill()
            server.wait()

        # The port forward: WAN -> gateway:8443 lands on the LAN host.
        server = _serve_once(lan, 8443)
        try:
            assert _connect(wan, "198.51.100.1", 8443)
            assert server.stdout.readline().strip() == "198.51.100.2"
        finally:
            server.kill()
            server.wait()


def _probe_v6(gw: str, client: str, address: str, port: int) -> bool:
    server = subprocess.Popen(
        ["ip", "netns", "exec", gw, "python3", "-c",
         "import socket;s=socket.socket(socket.AF_INET6);"
         "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
         f"s.bind(('::',{port}));s.listen();print('up',flush=True);c,_=s.accept();c.close()"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "up"
        return run("python3", "-c", "import socket;s=socket.socket(socket.AF_INET6);"
                   f"s.settimeout(2);s.connect(('{address}',{port}))",
                   netns=client, check=False).returncode == 0
    finally:
        server.kill()
        server.wait()


def test_ipv6_from_the_wan_is_dropped_and_from_the_lan_accepted_for_real(tmp_path):
    spec = stack_spec("lab")
    rules = tmp_path / "rules.v6"
    rules.write_text(iptables.render_v6(spec))
    gw_spec = spec.gateway
    with netns("gw") as gw, netns("wan") as wan, netns("lan") as lan:
        veth(gw, gw_spec.wan_interface, "", wan, "eth0", "")
        veth(gw, gw_spec.lan_interface, "", lan, "eth0", "")
        for ns, dev, addr in ((gw, gw_spec.wan_interface, "2001:db8:1::1/64"), (wan, "eth0", "2001:db8:1::2/64"),
                              (gw, gw_spec.lan_interface, "2001:db8:2::1/64"), (lan, "eth0", "2001:db8:2::2/64")):
            run("ip", "-6", "addr", "add", addr, "dev", dev, "nodad", netns=ns)
        run("ip6tables-restore", str(rules), netns=gw)
        assert _probe_v6(gw, lan, "2001:db8:2::1", 2222), "LAN -> gateway must be accepted"
        assert not _probe_v6(gw, wan, "2001:db8:1::1", 2222), "WAN -> gateway must be dropped"
        # Neighbour discovery still works from the WAN (ping answers), or IPv6 would be broken.
        assert run("ping", "-6", "-c", "1", "-W", "2", "2001:db8:1::1", netns=wan,
                   check=False).returncode == 0


def test_deleting_the_firewall_brings_back_what_the_host_had(tmp_path):
    spec = stack_spec("lab")
    rules = tmp_path / "rules.v4"
    rules.write_text(iptables.render(spec))
    before = tmp_path / "before.v4"
    with netns() as ns:
        def sh(cmd: str) -> None:
            run("sh", "-c", cmd, netns=ns)
        # The host's own rules before Mammatus came.
        run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "REJECT", netns=ns)
        had = run("iptables-save", "-t", "filter", netns=ns).stdout
        sh(iptables.save_before_command("iptables-save", str(before)))
        run("iptables-restore", str(rules), netns=ns)
        sh(iptables.save_before_command("iptables-save", str(before)))  # a later apply keeps the first
        sh(iptables.restore_before_command("iptables-restore", str(before)))
        now = run("iptables-save", "-t", "filter", netns=ns).stdout
        assert "--dport 9 -j REJECT" in now
        assert "-A" not in run("iptables-save", "-t", "nat", netns=ns).stdout  # no NAT left
        assert [x for x in now.splitlines() if x.startswith((":", "-A"))] == \
               [x for x in had.splitlines() if x.startswith((":", "-A"))]
        # Nothing saved (a gateway from an older Mammatus): closed for forwarding, not open.
        run("iptables-restore", str(rules), netns=ns)
        sh(iptables.restore_before_command("iptables-restore", str(before)))
        closed = run("iptables-save", "-t", "filter", netns=ns).stdout
        assert ":FORWARD DROP" in closed and ":INPUT ACCEPT" in closed
