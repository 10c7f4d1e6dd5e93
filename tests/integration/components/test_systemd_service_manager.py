"""The systemd side of the service-manager seam under a real systemd: an unprivileged LXD
container (Debian 12, systemd as PID 1: the dev stack's image) runs the exact create/update/
delete texts `components.service_manager.lifecycle` gives a real host.

Checked: the unit is active and enabled; kill -9 of the daemon -> systemd brings it back; a
config change restarts it, a reload-capable daemon is reloaded in place (same PID); the sandbox
holds (no new privileges, /etc read-only, a private /tmp); after `lxc restart` the unit is
running again with nothing re-applied; delete leaves no unit.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from components.service_manager import Daemon, digest, lifecycle
from tests.support.lxd import Container, booted_container

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("lxd", "lxc", "debootstrap", "ip")),
                       reason="needs lxd, debootstrap and iproute2 (tools/setup/metadata.sh)"),
]

# A daemon that proves what its sandbox allows, then waits; SIGHUP is its "reload".
PROBE = ("mkdir -p /var/lib/mammatus/probe; cd /var/lib/mammatus/probe; "
         "touch /etc/mammatus-probe 2>/dev/null && echo etc-writable > etc || echo etc-read-only > etc; "
         "echo $$ > /tmp/mine; ls /tmp > tmp; "
         "trap 'echo reloaded >> reloads' HUP; while :; do sleep 1 & wait $!; done")


def probe(digest_of: str, reload: bool = False) -> Daemon:
    return Daemon(name="probe", description="sandbox probe", command=["/bin/sh", "-c", PROBE],
                  config_digest=digest(digest_of), reload_signal="HUP" if reload else None)


class Host(Container):
    def main_pid(self) -> int:
        return int(self.sh("systemctl show -p MainPID --value mammatus-probe").stdout.strip() or 0)

    def wait_active(self, not_pid: int = 0, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self.sh("systemctl is-active mammatus-probe", check=False).stdout.strip()
            pid = self.main_pid()
            if active == "active" and pid and pid != not_pid:
                return pid
            time.sleep(0.3)
        status = self.sh("systemctl status mammatus-probe; journalctl -u mammatus-probe -n 30",
                         check=False)
        raise AssertionError(f"mammatus-probe not active with a new PID:\n{status.stdout}")


@pytest.fixture(scope="module")
def host():
    with booted_container("mdsd", Host) as box:
        yield box


def test_create_runs_an_enabled_sandboxed_unit(host):
    create, _, _ = lifecycle(probe("one"))
    host.sh(create)
    pid = host.wait_active()
    assert host.sh("systemctl is-enabled mammatus-probe").stdout.strip() == "enabled"
    status = host.sh(f"cat /proc/{pid}/status").stdout
    assert "NoNewPrivs:\t1" in status
    assert host.read("/var/lib/mammatus/probe/etc").strip() == "etc-read-only"
    assert host.sh("test -e /etc/mammatus-probe", check=False).returncode != 0
    # Its /tmp is its own: what it wrote there is not in the host's /tmp.
    assert "mine" in host.read("/var/lib/mammatus/probe/tmp")
    assert host.sh("test -e /tmp/mine", check=False).returncode != 0


def test_kill_9_is_restarted_by_systemd(host):
    before = host.wait_active()
    host.sh(f"kill -9 {before}")
    after = host.wait_active(not_pid=before)
    assert after != before


def test_a_config_change_restarts_and_a_reloadable_daemon_reloads(host):
    before = host.wait_active()
    _, update, _ = lifecycle(probe("two"))
    host.sh(update)
    restarted = host.wait_active(not_pid=before)
    # Now a reload-capable daemon: its unit changes once (ExecReload), then a change reloads.
    host.sh(lifecycle(probe("three", reload=True))[1])
    pid = host.wait_active()
    host.sh(lifecycle(probe("four", reload=True))[1])
    for _ in range(50):
        if "reloaded" in host.sh("cat /var/lib/mammatus/probe/reloads 2>/dev/null; true").stdout:
            break
        time.sleep(0.2)
    assert "reloaded" in host.read("/var/lib/mammatus/probe/reloads")
    assert host.main_pid() == pid and restarted != before


def test_after_a_reboot_the_unit_runs_again(host):
    subprocess.run(["lxc", "restart", host.name], env=host.env, check=True, capture_output=True,
                   timeout=180)
    host.wait_booted()
    assert host.wait_active(timeout=60)


def test_delete_leaves_no_unit(host):
    _, _, delete = lifecycle(probe("four", reload=True))
    host.sh(delete)
    assert host.sh("systemctl is-active mammatus-probe", check=False).stdout.strip() != "active"
    assert host.sh("test -e /etc/systemd/system/mammatus-probe.service", check=False).returncode != 0
    host.sh(delete)     # twice is fine (a retried destroy)
