"""A real LXD (Debian's 5.0.2) for integration tests: started in a network namespace the test
owns, with its own LXD_DIR, the way the dev stack starts it on its compute host
(components.dev_box.NETNS_LXD), initialised by `lxd init --preseed` (never `--auto`), and shut
down by PID afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from components.dev_box import NETNS_LXD


def bridged_preseed(bridge: str, address: str, dhcp_range: str) -> str:
    """A dir pool and a bridge on a fixed subnet: no NAT (nothing may leave), no IPv6."""
    return yaml.safe_dump({
        "networks": [{"name": bridge, "type": "bridge", "config": {
            "ipv4.address": address, "ipv4.nat": "false", "ipv4.dhcp.ranges": dhcp_range,
            "ipv6.address": "none"}}],
        "storage_pools": [{"name": "default", "driver": "dir"}],
        "profiles": [{"name": "default", "devices": {
            "root": {"path": "/", "pool": "default", "type": "disk"},
            "eth0": {"name": "eth0", "network": bridge, "type": "nic"}}}],
    }, sort_keys=False)


@dataclass
class Lxd:
    work: Path      # scratch directory (logs, files of the test)
    lxd_dir: Path
    env: dict       # os.environ + LXD_DIR, for lxc/lxd commands

    @property
    def socket(self) -> str:
        return str(self.lxd_dir / "unix.socket")


@contextlib.contextmanager
def lxd_in_netns(netns: str, preseed: str, prefix: str = "mammatus-lxd-") -> Iterator[Lxd]:
    # Not under pytest's 0700 tmp dir: the container's root must traverse LXD_DIR's parents.
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(work, 0o711)
    lxd = Lxd(work, work / "d", {**os.environ, "LXD_DIR": str(work / "d")})
    log = open(work / "lxd.out", "w")
    proc = subprocess.Popen(["ip", "netns", "exec", netns, "sh", "-c", NETNS_LXD, "lxd",
                             str(work / "lxd.log")], env=lxd.env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        subprocess.run(["lxd", "waitready", "--timeout", "60"], env=lxd.env, check=True,
                       capture_output=True, timeout=90)
        subprocess.run(["lxd", "init", "--preseed"], input=preseed, text=True, env=lxd.env,
                       check=True, capture_output=True, timeout=120)
        yield lxd
    finally:
        subprocess.run(["lxd", "shutdown", "--timeout", "30"], env=lxd.env, check=False,
                       capture_output=True, timeout=60)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


# A dir pool and a root disk only: a container with no network at all (an air-gapped host).
OFFLINE_PRESEED = yaml.safe_dump({
    "storage_pools": [{"name": "default", "driver": "dir"}],
    "profiles": [{"name": "default", "devices": {
        "root": {"path": "/", "pool": "default", "type": "disk"}}}],
})


class Container:
    """A running LXD container reached with `lxc exec` (commands as root)."""

    def __init__(self, env: dict, name: str):
        self.env, self.name = env, name

    def sh(self, script: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess:
        done = subprocess.run(["lxc", "exec", self.name, "--", "sh", "-c", script], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{script!r} failed ({done.returncode}): {done.stderr}{done.stdout}")
        return done

    def push(self, local: str, path: str) -> None:
        subprocess.run(["lxc", "file", "push", "--create-dirs", local, f"{self.name}{path}"],
                       env=self.env, check=True, capture_output=True, timeout=300)

    def wait_booted(self, timeout: float = 120) -> None:
        """Until systemd answers as PID 1 (degraded is fine: no network in this container)."""
        import time
        deadline, state = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            state = self.sh("systemctl is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise AssertionError(f"systemd did not finish booting: {state!r}")

    def read(self, path: str) -> str:
        return self.sh(f"cat {path}").stdout


@contextlib.contextmanager
def booted_container(tag: str, cls=Container) -> Iterator[Container]:
    """A Debian 12 system container (the dev stack's own image: systemd as PID 1) with no
    network, in a test LXD of its own, booted; deleted afterwards."""
    from dynamic_providers import rootfs_image
    from tests.support.netlab import netns

    image = rootfs_image.ensure(rootfs_image.recipe())
    with netns(tag) as ns, lxd_in_netns(ns, OFFLINE_PRESEED, prefix=f"mammatus-{tag}-") as lxd:
        subprocess.run(["lxc", "image", "import", str(image), "--alias", "mammatus-host"],
                       env=lxd.env, check=True, capture_output=True, timeout=300)
        subprocess.run(["lxc", "launch", "mammatus-host", "host"], env=lxd.env, check=True,
                       capture_output=True, timeout=120)
        box = cls(lxd.env, "host")
        try:
            box.wait_booted()
            yield box
        finally:
            subprocess.run(["lxc", "delete", "--force", "host"], env=lxd.env, capture_output=True,
                           timeout=120)
