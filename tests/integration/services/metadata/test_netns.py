"""An instance told nothing but the cloud's conventions: cloud-init 22.4.2 in its own network
namespace gets a real DHCP lease from dnsmasq and finds the service at 169.254.169.254.

Layout (all namespaces made and removed by the test):

    [inst ns] eth0 02:00:00:00:77:02 --veth-- br0 [svc ns] 10.77.0.1/24 + 169.254.169.254/32
    [rogue ns] eth0 02:00:00:00:77:66 --veth-/       dnsmasq (DHCP, lease file)
                                                      python -m services.metadata :80

Identity comes from dnsmasq's own lease file, so the whole chain is the production one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest

from services.metadata.identity import Identity, Unproven, check_neighbour, parse_arp
from services.metadata.inventory import Instance
from tests.support.cloudinit import run_cloudinit
from tests.support.netlab import dhcp_lease, gratuitous_arp, netns, veth

from .conftest import WEB1

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("ip", "dnsmasq", "udhcpc")),
                       reason="needs iproute2, dnsmasq-base and udhcpc (tools/setup/metadata.sh)"),
]

IMDS = "169.254.169.254"
INSTANCE_MAC = "02:00:00:00:77:02"
ROGUE_MAC = "02:00:00:00:77:66"


def sh(*cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


HTTP_CLIENT = """
import http.client, json, socket, sys
host, method, path, headers, timeout = json.loads(sys.argv[1])
conn = http.client.HTTPConnection(host, 80, timeout=timeout)
try:
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    reply = {"status": resp.status, "body": resp.read().decode(), "headers": dict(resp.getheaders())}
except (socket.timeout, TimeoutError):
    reply = {"timeout": True}
print(json.dumps(reply))
"""


def http_in(ns, host, path, method="GET", headers=None, timeout=10) -> dict:
    """One request from inside a namespace: {status, body, headers}, or {timeout: True} when no
    answer arrived in `timeout` seconds."""
    out = sh("ip", "netns", "exec", ns, sys.executable, "-c", HTTP_CLIENT,
             json.dumps([host, method, path, headers or {}, timeout]), timeout=timeout + 30)
    return json.loads(out.stdout)


def neighbour_macs(ns, ip) -> frozenset:
    """The MACs a namespace's kernel holds for `ip`, read as the service reads them."""
    arp = sh("ip", "netns", "exec", ns, "cat", "/proc/net/arp").stdout
    return parse_arp(arp).get(ip, frozenset())


class Lan:
    def __init__(self, workdir):
        tag = uuid.uuid4().hex[:6]
        self.svc, self.inst, self.rogue = f"mdS{tag}", f"mdI{tag}", f"mdR{tag}"
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.leases = workdir / "dnsmasq.leases"
        self.dnsmasq = None

    def up(self):
        for ns in (self.svc, self.inst, self.rogue):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.svc, "link", "add", "br0", "type", "bridge")
        for ns, mac, port in ((self.inst, INSTANCE_MAC, "vi"), (self.rogue, ROGUE_MAC, "vr")):
            sh("ip", "link", "add", port, "netns", self.svc, "type", "veth",
               "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", ns, "link", "set", "eth0", "address", mac)
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.svc, "link", "set", port, "master", "br0")
            sh("ip", "-n", self.svc, "link", "set", port, "up")
        sh("ip", "-n", self.svc, "addr", "add", "10.77.0.1/24", "dev", "br0")
        sh("ip", "-n", self.svc, "addr", "add", f"{IMDS}/32", "dev", "br0")
        sh("ip", "-n", self.svc, "link", "set", "br0", "up")
        self.leases.touch()
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.svc, "dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", "--port=0", "--interface=br0", "--bind-interfaces",
             "--dhcp-range=10.77.0.10,10.77.0.20,1h", f"--dhcp-leasefile={self.leases}",
             f"--log-facility={self.dir / 'dnsmasq.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def lease(self, ns) -> str:
        return dhcp_lease(ns, self.dir)

    def http(self, ns, path, method="GET", headers=None):
        """(status, body) of one request from inside a namespace."""
        reply = http_in(ns, IMDS, path, method, headers)
        return reply["status"], reply["body"]

    def down(self):
        if self.dnsmasq and self.dnsmasq.poll() is None:
            os.kill(self.dnsmasq.pid, signal.SIGTERM)
            self.dnsmasq.wait(timeout=10)
        for ns in (self.svc, self.inst, self.rogue):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def lan(tmp_path):
    lan = Lan(tmp_path / "lan").up()
    yield lan
    lan.down()


def imds(make_server, lan, name="svc", **identity):
    return make_server(
        {"identity": dict({"leases": [str(lan.leases)]}, **identity)},
        instances=[dict(WEB1, macs=[INSTANCE_MAC])], leases=[], host=IMDS, netns=lan.svc,
        name=name)


def test_instance_configures_itself_from_169_254_169_254(make_server, lan, tmp_path):
    ip = lan.lease(lan.inst)
    assert ip.startswith("10.77.0.")
    assert INSTANCE_MAC in lan.leases.read_text()  # dnsmasq's own record is the proof
    server = imds(make_server, lan)

    # Ec2 datasource with its built-in addresses, on "AWS": IMDSv2 to 169.254.169.254.
    ec2 = run_cloudinit(tmp_path / "ec2", None, "ec2", f"http://{IMDS}", platform="aws",
                        netns=lan.inst, allow=(IMDS,), default_urls=True)
    assert ec2["found"] and ec2["used_token"]
    assert ec2["hostname"] == "web-1" and ec2["userdata_raw"] == WEB1["user_data"]
    assert ec2["ssh_keys"] == WEB1["ssh_keys"]
    assert ec2["metadata"]["local-ipv4"] == ip
    assert ec2["metadata"]["mac"] == INSTANCE_MAC

    nocloud = run_cloudinit(tmp_path / "nocloud", None, "nocloud", f"http://{IMDS}",
                            netns=lan.inst, allow=(IMDS,))
    assert nocloud["instance_id"] == ec2["instance_id"]
    assert "mammatus-agents.sh" in nocloud["vendor_scripts"]

    openstack = run_cloudinit(tmp_path / "os", None, "openstack", f"http://{IMDS}",
                              netns=lan.inst, allow=(IMDS,), default_urls=True)
    assert openstack["instance_id"] == ec2["instance_id"]

    assert f'{ip} web-1 "PUT /latest/api/token" 200' in server.log()


def take_address(lan, ns, ip):
    sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
    sh("ip", "-n", ns, "route", "add", "default", "via", "10.77.0.1")


def test_gratuitous_arp_for_a_leased_address_is_refused_by_default(make_server, lan):
    ip = lan.lease(lan.inst)
    imds(make_server, lan)  # the service's defaults: the config says nothing about neighbours
    assert lan.http(lan.inst, "/latest/user-data") == (200, WEB1["user_data"])
    assert neighbour_macs(lan.svc, ip) == {INSTANCE_MAC}
    # While the instance is up, an attacker on the bridge takes its address and announces it
    # from its own MAC; the service's kernel believes it (arp_accept or not: the entry exists).
    take_address(lan, lan.rogue, ip)
    gratuitous_arp(lan.rogue, "eth0", ip, ROGUE_MAC)
    assert neighbour_macs(lan.svc, ip) == {ROGUE_MAC}
    for path in ("/latest/user-data", "/nocloud/user-data", "/openstack/latest/user_data"):
        status, body = lan.http(lan.rogue, path)
        assert status == 403 and "other than the leased" in body, (path, status, body)
    put = lan.http(lan.rogue, "/latest/api/token", "PUT",
                   {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert put[0] == 403


def test_rogue_taking_the_leased_ip(make_server, lan):
    ip = lan.lease(lan.inst)
    checked = imds(make_server, lan, name="checked")
    assert lan.http(lan.inst, "/latest/meta-data/local-hostname") == (200, "web-1.mammatus")
    # The victim goes down; a rogue on the same bridge takes its address (not its MAC).
    sh("ip", "-n", lan.inst, "link", "set", "eth0", "down")
    take_address(lan, lan.rogue, ip)
    sh("ip", "-n", lan.svc, "neigh", "flush", "dev", "br0")
    status, body = lan.http(lan.rogue, "/latest/meta-data/local-hostname")
    assert status == 403 and "other than the leased" in body
    put = lan.http(lan.rogue, "/latest/api/token", "PUT",
                   {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert put[0] == 403
    checked.stop()
    # With the neighbour check turned off the rogue is served: the same-L2 limit docs/metadata.md
    # describes (LXD's MAC/IP filtering is the counter-measure there).
    plain = imds(make_server, lan, name="plain", neighbour_check=False)
    assert lan.http(lan.rogue, "/latest/meta-data/local-hostname") == (200, "web-1.mammatus")
    plain.stop()


# Which kernel states prove an address: set each with `ip neigh`, read /proc/net/arp as the
# service does. (A live request cannot hold an entry INCOMPLETE: the SYN-ACK resolves it.)
NEIGHBOUR_STATES = {"permanent": True, "reachable": True, "stale": True, "probe": True,
                    "incomplete": False, "failed": False}


def test_neighbour_states_as_the_kernel_reports_them():
    leased = "02:00:00:00:77:02"
    with netns("mdnb") as ns:
        veth(ns, "n0", "10.76.0.1/24", ns, "n1", "")
        for n, state in enumerate(NEIGHBOUR_STATES, start=2):
            sh("ip", "-n", ns, "neigh", "replace", f"10.76.0.{n}", "dev", "n0",
               "lladdr", leased, "nud", state)
        for n, (state, proves) in enumerate(NEIGHBOUR_STATES.items(), start=2):
            ip = f"10.76.0.{n}"
            shown = sh("ip", "-n", ns, "neigh", "show", ip, "dev", "n0").stdout
            assert state.upper() in shown, shown  # the kernel holds the entry in that state
            ident = Identity(Instance(name="web-1", instance_id="i-1", macs=(leased,)), ip, leased)
            if proves:
                assert check_neighbour(ident, neighbour_macs(ns, ip)) is ident
            else:  # INCOMPLETE/FAILED still print the leased MAC: the flags must decide
                assert leased in sh("ip", "netns", "exec", ns, "cat", "/proc/net/arp").stdout
                with pytest.raises(Unproven, match="no usable neighbour entry"):
                    check_neighbour(ident, neighbour_macs(ns, ip))


# -- the token's hop limit: a real router between the service and a caller -------------------
#
#   [far] 10.79.2.2 --veth-- 10.79.2.1 [router, forwarding] 10.79.1.2 --veth-- 10.79.1.1 [svc]
#
# Both callers hold leases; the neighbour check is off (the far one is routed by design), so
# only the TTL of the answers decides what arrives.

SVC_IP, ROUTER_IP, FAR_IP = "10.79.1.1", "10.79.1.2", "10.79.2.2"
NEAR = {"name": "near-1", "macs": ["02:00:00:00:79:01"]}
FAR = {"name": "far-1", "macs": ["02:00:00:00:79:02"]}
TTL_HEADER = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}


@pytest.fixture
def routed():
    with netns("mdsv") as svc, netns("mdrt") as router, netns("mdfr") as far:
        veth(svc, "eth0", f"{SVC_IP}/24", router, "r1", f"{ROUTER_IP}/24")
        veth(far, "eth0", f"{FAR_IP}/24", router, "r2", "10.79.2.1/24")
        sh("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", svc, "route", "add", "10.79.2.0/24", "via", ROUTER_IP)
        sh("ip", "-n", far, "route", "add", "default", "via", "10.79.2.1")
        yield {"svc": svc, "router": router, "far": far}


def routed_imds(make_server, routed, name, **tokens):
    return make_server({"identity": {"neighbour_check": False}, "tokens": tokens},
                       instances=[NEAR, FAR], leases=[f"0 {NEAR['macs'][0]} {ROUTER_IP} near-1 *",
                                                      f"0 {FAR['macs'][0]} {FAR_IP} far-1 *"],
                       host=SVC_IP, netns=routed["svc"], name=name)


def test_a_token_does_not_cross_a_router_with_the_default_hop_limit(routed, make_server):
    server = routed_imds(make_server, routed, "ttl1")
    near = http_in(routed["router"], SVC_IP, "/latest/api/token", "PUT", TTL_HEADER)
    assert near["status"] == 200 and near["body"].startswith("v1.")
    # Its connection ends with it: a later answer on it would leave with TTL 1 as well.
    assert near["headers"]["Connection"] == "close"
    # One router away, ordinary answers arrive (they keep the default TTL) ...
    far = http_in(routed["far"], SVC_IP, "/latest/meta-data/local-hostname")
    assert (far["status"], far["body"]) == (200, "far-1.mammatus")
    # ... the token never does: the router drops it (TTL 1), though the service did answer.
    assert http_in(routed["far"], SVC_IP, "/latest/api/token", "PUT", TTL_HEADER,
                   timeout=3) == {"timeout": True}
    assert f'{FAR_IP} far-1 "PUT /latest/api/token" 200' in server.log()


def test_a_hop_limit_of_two_lets_the_token_cross_one_router(routed, make_server):
    routed_imds(make_server, routed, "ttl2", hop_limit=2)
    far = http_in(routed["far"], SVC_IP, "/latest/api/token", "PUT", TTL_HEADER)
    assert far["status"] == 200
    use = http_in(routed["far"], SVC_IP, "/latest/meta-data/instance-id",
                  headers={"X-aws-ec2-metadata-token": far["body"]})
    assert use["status"] == 200 and use["body"].startswith("i-")
