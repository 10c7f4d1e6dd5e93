"""A real instance: an unprivileged LXD container (Debian 12, systemd, cloud-init 22.4.2) told
only where the metadata service is, configures itself from it.

The LXD daemon runs in a network namespace the test creates, with its own LXD_DIR, initialised
by `lxd init --preseed` (dir pool, a bridge on a fixed private subnet, no NAT, no IPv6). The
service listens on 169.254.169.254 on that bridge and proves the container's identity from the
bridge's own dnsmasq leases and LXD's instance list (its unix socket): the production chain.
The image is the dev stack's (dynamic_providers/rootfs_image.py: debootstrap, cached in
/var/cache/mammatus/images).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from dynamic_providers import rootfs_image
from tests.support.lxd import bridged_preseed, lxd_in_netns
from tests.support.netlab import netns
from tests.support.paths import ROOT


pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("lxd", "lxc", "debootstrap", "ip")),
                       reason="needs lxd, debootstrap and iproute2 (tools/setup/metadata.sh)"),
]

BRIDGE = "mdbr0"
PRESEED = bridged_preseed(BRIDGE, "10.78.0.1/24", "10.78.0.100-10.78.0.150")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyForMammatusE2e e2e@mammatus"
USER_DATA = "#cloud-config\nruncmd:\n- [sh, -c, 'echo ran > /root/user-data-marker']\n"


def sh(*cmd, env=None, netns=None, timeout=120, check=True):
    if netns:
        cmd = ("ip", "netns", "exec", netns, *cmd)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=check)


@pytest.fixture(scope="module")
def lxd_cloud():
    image = rootfs_image.ensure(rootfs_image.recipe())   # the dev stack's own image
    with netns("mde2e") as ns, lxd_in_netns(ns, PRESEED, prefix="mammatus-md-e2e-") as lxd:
        env, work, lxd_dir = lxd.env, lxd.work, lxd.lxd_dir
        service = None
        try:
            sh("ip", "addr", "add", "169.254.169.254/32", "dev", BRIDGE, netns=ns)
            sh("lxc", "image", "import", str(image), "--alias", "mammatus-e2e", env=env, timeout=300)
            config = work / "metadata.yaml"
            config.write_text(json.dumps({
                "cloud": {"name": "e2e", "domain": "mammatus"},
                "identity": {
                    "leases": [str(lxd_dir / "networks" / BRIDGE / "dnsmasq.leases")],
                    "inventories": [{"type": "lxd", "endpoint": lxd.socket, "refresh_seconds": 1}]},
                "vendor_data": {"consul": {"agent": {"retry_join": ["10.78.0.1"]}}},
            }))
            service_log = open(work / "service.log", "w")
            service = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-m", "services.metadata",
                 "--listen", "169.254.169.254:80", "--config", str(config)],
                cwd=ROOT, stdout=service_log, stderr=service_log)
            yield {"env": env, "work": work, "ns": ns, "service_log": work / "service.log"}
        finally:
            if service and service.poll() is None:
                os.kill(service.pid, signal.SIGTERM)
                service.wait(timeout=10)
            sh("lxc", "delete", "--force", "web-e2e", env=env, check=False)


def test_container_configures_itself_from_the_service(lxd_cloud):
    env = lxd_cloud["env"]
    # user-data and the SSH key live in LXD's config; /dev/lxd is off, so the container can
    # only get them through the metadata service.
    sh("lxc", "launch", "mammatus-e2e", "web-e2e", "-c", "security.devlxd=false",
       "-c", f"user.user-data={USER_DATA}", "-c", f"user.mammatus.ssh-keys={KEY}",
       env=env, timeout=300)
    status = sh("lxc", "exec", "web-e2e", "--", "cloud-init", "status", "--wait", "--long",
                env=env, timeout=300, check=False)

    def inside(*cmd):
        return sh("lxc", "exec", "web-e2e", "--", *cmd, env=env, check=False).stdout

    detail = (status.stdout, status.stderr, inside("sh", "-c", "grep -E 'WARN|Error' "
                                                   "/var/log/cloud-init.log | tail -20"))
    assert "status: done" in status.stdout, detail
    # "done" alone also means "fell back to DataSourceNone": it must be the seed we served.
    assert "DataSourceNoCloudNet" in status.stdout and "169.254.169.254" in status.stdout, detail
    assert inside("cat", "/etc/hostname").strip() == "web-e2e"
    # vendor settings (manage_etc_hosts) with the FQDN from meta-data
    assert "127.0.1.1 web-e2e.mammatus web-e2e" in inside("cat", "/etc/hosts")
    assert KEY in inside("cat", "/home/debian/.ssh/authorized_keys")
    assert inside("cat", "/root/user-data-marker").strip() == "ran"
    marker = json.loads(inside("cat", "/var/lib/mammatus/vendor-data.json"))
    assert marker["name"] == "web-e2e" and marker["services"] == ["consul"]
    consul = json.loads(inside("cat", "/etc/consul.d/mammatus.json"))
    assert consul["node_name"] == "web-e2e" and consul["retry_join"] == ["10.78.0.1"]
    log = lxd_cloud["service_log"].read_text()
    assert 'web-e2e "GET /nocloud/meta-data" 200' in log
    assert 'web-e2e "GET /nocloud/vendor-data" 200' in log
