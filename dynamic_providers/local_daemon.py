"""A process on the machine running Pulumi, optionally inside a network namespace, kept by PID.

The dev box's own "hardware" daemons run this way: its LXD, the WAN's DNS and web server, the LAN
client's DHCP client. Every daemon on a host goes through components.host.HostService over SSH.
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


def read_pid(pid_file: str) -> Optional[int]:
    try:
        return int(open(pid_file).read().strip())
    except (FileNotFoundError, ValueError):
        return None


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
        f.write(f"{proc.pid}\n")
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

    def diff(self, _id, olds, news):
        changed = [k for k in INPUTS if olds.get(k) != news.get(k)]
        if olds.get("running") is False:
            changed.append("running")
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k == "pid_file"],
                          delete_before_replace=True)

    def create(self, props):
        stop(props["pid_file"])
        pid = start(props)
        return CreateResult(id_=props["pid_file"], outs={**props, "pid": pid, "running": True})

    def read(self, id_, props):
        pid = read_pid(id_)
        running = pid is not None and pid_alive(pid)
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
