"""What a reboot of this machine does to a deployed dev stack, for tests of `up` bringing it back.

A clean shutdown: the dev box's LXD shuts its containers down (each host's systemd stops its
daemons) and remembers they ran, as `systemctl stop lxd` does on a systemd machine; then every
other process of the box dies, and the kernel's state goes: the namespaces with their bridges and
links, and the machine's iptables rules. What is on disk stays: the run directory, the box's
LXD with its containers and the state."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from dynamic_providers.local_daemon import read_pid


def power_off(prefix: str, run_dir: Path, lxd_dir: str) -> None:
    env = {**os.environ, "LXD_DIR": lxd_dir}
    subprocess.run(["lxd", "shutdown", "--timeout", "120"], env=env, capture_output=True,
                   timeout=180, check=True)
    for pid_file in sorted(run_dir.rglob("*.pid")):
        pid = read_pid(str(pid_file))
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for ns in (line.split()[0] for line in namespaces.splitlines() if line.startswith(f"{prefix}-")):
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for pid in map(int, pids.split()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", ns], check=True)
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    for rule in rules.splitlines():
        if f" {prefix}-lan0 " in f"{rule} ":
            subprocess.run(["iptables", "-D", *rule.split()[1:]], check=True)
    deadline = time.monotonic() + 10
    while subprocess.run(["ip", "link", "show", f"{prefix}-lan0"],
                         capture_output=True).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
