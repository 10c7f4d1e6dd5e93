"""A process on the machine running Pulumi, optionally inside a network namespace, kept by PID.

The dev box's own "hardware" daemons run this way: its LXD, the WAN's DNS and web server, the LAN
client's DHCP client. Every daemon on a host goes through components.host.HostService over SSH.

Nothing restarts them when this machine reboots (PID 1 here need not be systemd), so `diff` looks
at the process itself: a daemon that is gone (a reboot, a crash) is an update that starts it again,
and `up` alone brings the dev box back. The pid file also records the process's boot and start
time, so a PID reused after a reboot is never taken for the daemon (nor killed as it).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult
from pulumi.dynamic import ResourceProvider, UpdateResult

INPUTS = ("netns", "argv", "pid_file", "log_file", "config_digest")


def launch_argv(props: dict) -> list[str]:
    """argv that runs the daemon (in its namespace) in the foreground."""
    prefix = ["ip", "netns", "exec", props["netns"]] if props.get("netns") else []
    return [*prefix, *props["argv"]]


def parse_stat_state(text: str) -> str:
    """The state letter of /proc/<pid>/stat (R, S, Z …)."""
    return text.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return parse_stat_state(f.read()) != "Z"
    except (FileNotFoundError, IndexError):
        return False


def boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, IndexError):
        return ""


def identity(pid: int) -> str:
    return f"{boot_id()} {start_time(pid)}"


def parse_pid_file(text: str) -> tuple[Optional[int], str]:
    """(pid, identity) from a pid file: the PID, then the boot id and start time it had."""
    lines = text.splitlines()
    try:
        pid = int(lines[0].strip())
    except (IndexError, ValueError):
        return None, ""
    return pid, (lines[1].strip() if len(lines) > 1 else "")


def read_pid(pid_file: str) -> Optional[int]:
    """The daemon's PID, or None when the file is gone or names another process (a reboot)."""
    try:
        pid, recorded = parse_pid_file(open(pid_file).read())
    except FileNotFoundError:
        return None
    if pid is None or (recorded and recorded != identity(pid)):
        return None
    return pid


def is_running(pid_file: str) -> bool:
    pid = read_pid(pid_file)
    return pid is not None and pid_alive(pid)


def stop(pid_file: str) -> None:
    pid = read_pid(pid_file)
    if pid is not None and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    if os.path.exists(pid_file):
        os.remove(pid_file)


def start(props: dict) -> int:
    os.makedirs(os.path.dirname(props["pid_file"]), exist_ok=True)
    with open(props["log_file"], "ab") as log:
        proc = subprocess.Popen(launch_argv(props), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    time.sleep(0.3)
    if proc.poll() is not None:
        tail = open(props["log_file"], errors="replace").read()[-2000:]
        raise RuntimeError(f"{shlex.join(props['argv'])} exited with {proc.returncode}:\n{tail}")
    with open(props["pid_file"], "w") as f:
        f.write(f"{proc.pid}\n{identity(proc.pid)}\n")
    return proc.pid


class LocalDaemonProvider(ResourceProvider):
    def check(self, _olds, news):
        props = {"netns": news.get("netns") or "", "argv": list(news.get("argv") or []),
                 "pid_file": news.get("pid_file", ""), "log_file": news.get("log_file", ""),
                 "config_digest": news.get("config_digest") or ""}
        failures = [CheckFailure("argv", "must name a program")] if not props["argv"] else []
        for key in ("pid_file", "log_file"):
            if not os.path.isabs(props[key]):
                failures.append(CheckFailure(key, "must be an absolute path"))
        return CheckResult(props, failures)

    def diff(self, id_, olds, news):
        changed = [k for k in INPUTS if olds.get(k) != news.get(k)]
        # Looked at, not taken from the state: a reboot or a crash needs no refresh to be seen.
        if olds.get("running") is False or not is_running(id_):
            changed.append("running")
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k == "pid_file"],
                          delete_before_replace=True)

    def create(self, props):
        stop(props["pid_file"])
        pid = start(props)
        return CreateResult(id_=props["pid_file"], outs={**props, "pid": pid, "running": True})

    def read(self, id_, props):
        pid = read_pid(id_)
        running = is_running(id_)
        outs = {**{k: props.get(k) for k in INPUTS}, "pid": pid or 0, "running": running}
        return ReadResult(id_, outs, outs)

    def update(self, _id, _olds, news):
        stop(news["pid_file"])
        pid = start(news)
        return UpdateResult(outs={**news, "pid": pid, "running": True})

    def delete(self, id_, _props):
        stop(id_)


class LocalDaemon(pulumi.dynamic.Resource, module="dev", name="LocalDaemon"):
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, argv: pulumi.Input[list], pid_file: str, log_file: str,
                 netns: pulumi.Input[str] = "", config_digest: pulumi.Input[str] = "",
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(LocalDaemonProvider(), name,
                         {"netns": netns, "argv": argv, "pid_file": pid_file, "log_file": log_file,
                          "config_digest": config_digest, "pid": None, "running": None}, opts)
