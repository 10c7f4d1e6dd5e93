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

from tests.support.cloudinit import run_cloudinit
from tests.support.netlab import dhcp_lease

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
        code = ("import http.client,json,sys; a=json.loads(sys.argv[1]);"
                f"c=http.client.HTTPConnection('{IMDS}', 80, timeout=10);"
                "c.request(a[0], a[1], headers=a[2]); r=c.getresponse();"
                "print(r.status); print(r.read().decode(), end='')")
        out = sh("ip", "netns", "exec", ns, sys.executable, "-c", code,
                 json.dumps([method, path, headers or {}])).stdout
        status, _, body = out.partition("\n")
        return int(status), body

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


def test_rogue_taking_the_leased_ip(make_server, lan):
    ip = lan.lease(lan.inst)
    checked = imds(make_server, lan, name="checked", neighbour_check=True)
    assert lan.http(lan.inst, "/latest/meta-data/local-hostname") == (200, "web-1.mammatus")
    # The victim goes down; a rogue on the same bridge takes its address (not its MAC).
    sh("ip", "-n", lan.inst, "link", "set", "eth0", "down")
    sh("ip", "-n", lan.rogue, "addr", "add", f"{ip}/24", "dev", "eth0")
    sh("ip", "-n", lan.rogue, "route", "add", "default", "via", "10.77.0.1")
    sh("ip", "-n", lan.svc, "neigh", "flush", "dev", "br0")
    status, body = lan.http(lan.rogue, "/latest/meta-data/local-hostname")
    assert status == 403 and "other than the leased" in body
    put = lan.http(lan.rogue, "/latest/api/token", "PUT",
                   {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert put[0] == 403
    checked.stop()
    # Without the neighbour check the rogue is served: the same-L2 limit docs/metadata.md
    # describes (LXD's MAC/IP filtering is the counter-measure there).
    plain = imds(make_server, lan, name="plain")
    assert lan.http(lan.rogue, "/latest/meta-data/local-hostname") == (200, "web-1.mammatus")
    plain.stop()
