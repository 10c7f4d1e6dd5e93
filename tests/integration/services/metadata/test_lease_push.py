"""The home placement for real: dnsmasq on a "gateway", the metadata service on a "control"
host. dnsmasq's lease script (services/metadata/lease_hook.py) pushes each lease to the service,
which then knows who asks; a LAN device that is not an instance, and a forged push, are refused.

    [inst ns]  eth0 02:00:00:00:78:02 --\\
    [rogue ns] eth0 02:00:00:00:78:66 ---- br0 [gw ns] 10.78.0.1/24  dnsmasq + lease hook
    [ctl ns]   eth0 10.78.0.2/24 + 169.254.169.254/32 --/          (route to .254 by option 121)
               python -m services.metadata (:80 and push listener 10.78.0.2:8169)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from services.metadata.lease_push import SIGNATURE_HEADER, encode, sign
from tests.support.netlab import dhcp_lease
from tests.support.paths import ROOT

from .conftest import WEB1

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("ip", "dnsmasq", "udhcpc")),
                       reason="needs iproute2, dnsmasq-base and udhcpc (tools/setup/metadata.sh)"),
]

IMDS = "169.254.169.254"
CONTROL = "10.78.0.2"
INSTANCE_MAC = "02:00:00:00:78:02"
ROGUE_MAC = "02:00:00:00:78:66"
# udhcpc's event script: address, then the classless static routes (option 121) or the router.


def sh(*cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


class Placement:
    def __init__(self, workdir):
        tag = uuid.uuid4().hex[:6]
        self.gw, self.ctl, self.inst, self.rogue = (f"lp{r}{tag}" for r in "GCIR")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.leases = workdir / "dnsmasq.leases"
        self.key = workdir / "push.key"
        self.procs: list[subprocess.Popen] = []
        self.metadata = None

    def up(self):
        for ns in (self.gw, self.ctl, self.inst, self.rogue):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.gw, "link", "add", "br0", "type", "bridge")
        for ns, mac, port in ((self.inst, INSTANCE_MAC, "vi"), (self.rogue, ROGUE_MAC, "vr"),
                              (self.ctl, None, "vc")):
            sh("ip", "link", "add", port, "netns", self.gw, "type", "veth",
               "peer", "name", "eth0", "netns", ns)
            if mac:
                sh("ip", "-n", ns, "link", "set", "eth0", "address", mac)
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.gw, "link", "set", port, "master", "br0")
            sh("ip", "-n", self.gw, "link", "set", port, "up")
        sh("ip", "-n", self.gw, "addr", "add", "10.78.0.1/24", "dev", "br0")
        sh("ip", "-n", self.gw, "link", "set", "br0", "up")
        sh("ip", "-n", self.ctl, "addr", "add", f"{CONTROL}/24", "dev", "eth0")
        sh("ip", "-n", self.ctl, "addr", "add", f"{IMDS}/32", "dev", "eth0")
        self.key.write_text(os.urandom(24).hex())
        self.key.chmod(0o600)
        # The lease hook as the DhcpDnsTftp layer writes it, run by dnsmasq as its dhcp-script;
        # idle until the Metadata layer writes its config (configure_hook).
        hook_config = self.hook_config = self.dir / "lease-push.yaml"
        hook = self.dir / "lease-hook"
        # The test's wrapper also records each finished call, so a test knows when dnsmasq's
        # (asynchronous) script run for a lease is over.
        self.calls = self.dir / "hook-calls"
        hook.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} {sys.executable} -m "
                        f"services.metadata.lease_hook --config {hook_config} \"$@\"\n"
                        f"rc=$?\necho \"$* $rc\" >> {self.calls}\nexit $rc\n")
        hook.chmod(0o755)
        self.hook = hook
        self.leases.touch()
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", self.gw, "dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", "--port=0", "--interface=br0", "--bind-interfaces",
             "--dhcp-range=10.78.0.10,10.78.0.20,1h", f"--dhcp-leasefile={self.leases}",
             f"--dhcp-script={hook}", "--script-on-renewal",
             f"--dhcp-option=option:classless-static-route,{IMDS}/32,{CONTROL},0.0.0.0/0,10.78.0.1",
             f"--log-facility={self.dir / 'dnsmasq.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def configure_hook(self):
        """What the Metadata layer writes on the DHCP host: where to push, with which key."""
        self.hook_config.write_text(yaml.safe_dump(
            {"url": f"http://{CONTROL}:8169/v1/leases", "secret_file": str(self.key)}))

    def start_metadata(self):
        inventory = self.dir / "inventory.yaml"
        inventory.write_text(yaml.safe_dump({"instances": [dict(WEB1, macs=[INSTANCE_MAC])]}))
        config = self.dir / "metadata.yaml"
        config.write_text(yaml.safe_dump({
            "identity": {"inventories": [{"type": "file", "path": str(inventory)}],
                         "lease_push": {"listen": f"{CONTROL}:8169", "secret_file": str(self.key),
                                        "state_file": str(self.dir / "pushed.leases")}}}))
        log = self.dir / "metadata.log"
        start = log.stat().st_size if log.exists() else 0
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ctl, sys.executable, "-m", "services.metadata",
             "--listen", f"{IMDS}:80", "--config", str(config)],
            cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        for _ in range(300):
            assert proc.poll() is None, log.read_text()
            if log.read_text()[start:].count("listening on") >= 2:
                self.metadata = proc
                return proc
            time.sleep(0.05)
        raise AssertionError(f"metadata did not listen:\n{log.read_text()}")

    def stop_metadata(self):
        os.kill(self.metadata.pid, signal.SIGTERM)
        self.metadata.wait(timeout=10)

    def lease(self, ns) -> str:
        return dhcp_lease(ns, self.dir)

    def wait_hook_ran(self, mac):
        """Until dnsmasq's script for MAC's lease has finished (it runs after the DHCP reply)."""
        for _ in range(200):
            if self.calls.exists() and f"add {mac} " in self.calls.read_text():
                return
            time.sleep(0.05)
        raise AssertionError(f"dnsmasq never ran the lease hook for {mac}")

    def http(self, ns, host, port, path, method="GET", headers=None, body=None):
        code = ("import http.client,json,sys; a=json.loads(sys.argv[1]);"
                "c=http.client.HTTPConnection(a[0], a[1], timeout=10);"
                "c.request(a[2], a[3], body=a[5] and a[5].encode(), headers=a[4]);"
                "r=c.getresponse(); print(r.status); print(r.read().decode(), end='')")
        out = sh("ip", "netns", "exec", ns, sys.executable, "-c", code,
                 json.dumps([host, port, method, path, headers or {}, body])).stdout
        status, _, text = out.partition("\n")
        return int(status), text

    def wait_served(self, ns, path="/latest/meta-data/local-hostname", attempts=100):
        for _ in range(attempts):
            reply = self.http(ns, IMDS, 80, path)
            if reply[0] == 200:
                return reply
            time.sleep(0.1)
        return reply

    def down(self):
        for proc in [*self.procs, self.metadata]:
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
        for ns in (self.gw, self.ctl, self.inst, self.rogue):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def placement(tmp_path):
    p = Placement(tmp_path / "lp").up()
    yield p
    p.down()


def test_the_service_on_another_host_knows_the_instance_by_its_pushed_lease(placement):
    placement.configure_hook()
    placement.start_metadata()
    ip = placement.lease(placement.inst)
    # The route to 169.254.169.254 came by DHCP (option 121) and leads to control.
    assert f"{IMDS} via {CONTROL}" in sh("ip", "-n", placement.inst, "route").stdout
    assert placement.wait_served(placement.inst) == (200, "web-1.mammatus")
    status, body = placement.http(placement.inst, IMDS, 80, "/latest/meta-data/local-ipv4")
    assert (status, body) == (200, ip)
    assert f"{INSTANCE_MAC} {ip} " in (placement.dir / "pushed.leases").read_text()

    # A LAN device with a lease of its own, but no instance: refused.
    placement.lease(placement.rogue)
    pushed = placement.dir / "pushed.leases"
    for _ in range(100):
        if ROGUE_MAC in pushed.read_text():
            break
        time.sleep(0.1)
    assert ROGUE_MAC in pushed.read_text()     # dnsmasq told the service of it too
    status, body = placement.http(placement.rogue, IMDS, 80, "/latest/meta-data/local-hostname")
    assert status == 403 and "no instance owns the MAC" in body

    # ... and it cannot push a lease binding the instance's address to its own MAC.
    forged = encode([{"action": "add", "mac": ROGUE_MAC, "ip": ip, "hostname": "web-1",
                      "expiry": 0}], sync=False)
    status, _ = placement.http(placement.rogue, CONTROL, 8169, "/v1/leases", "POST",
                               {SIGNATURE_HEADER: sign(b"guessed", forged)}, forged.decode())
    assert status == 403
    assert f"{INSTANCE_MAC} {ip} " in (placement.dir / "pushed.leases").read_text()


def test_leases_given_before_the_service_arrive_with_the_sync_and_survive_a_restart(placement):
    ip = placement.lease(placement.inst)          # the Metadata layer is not deployed yet
    placement.wait_hook_ran(INSTANCE_MAC)         # ... so that push went nowhere
    placement.configure_hook()
    placement.start_metadata()
    status, _ = placement.http(placement.inst, IMDS, 80, "/latest/meta-data/local-hostname")
    assert status == 403
    # What `up` runs on the gateway once the service answers.
    sh("ip", "netns", "exec", placement.gw, str(placement.hook), "--sync", str(placement.leases))
    assert placement.wait_served(placement.inst) == (200, "web-1.mammatus")
    placement.stop_metadata()
    placement.start_metadata()
    assert placement.http(placement.inst, IMDS, 80, "/latest/meta-data/local-ipv4") == (200, ip)
