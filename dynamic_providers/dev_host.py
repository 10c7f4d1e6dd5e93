"""One of the dev stack's hosts as a machine: an unprivileged LXD system container (Debian 12,
systemd as PID 1, sshd) in the dev box's own LXD, with its NICs on the dev box's bridges.

This is the dev stack's "hardware and installer", nothing more: it creates the container from the
host image (dynamic_providers/rootfs_image.py `host_recipe`), plugs its NICs, writes what an
installer leaves on a real server (the network config, the resolver, the pinned SSH host key, the
admin's authorized key), boots it and waits until systemd is up and sshd answers on the host's
address. From then on Mammatus reaches it over SSH exactly as it reaches a real host.

Every input is fixed at creation: a change replaces the container (the old one removed first).
`read` sees a deleted container (it leaves the state, so `up` makes it again) and a stopped one
(`up` starts it again). `diff` looks too, without a refresh: a container that is not running, or
whose systemd is still booting (this machine rebooted, the box's LXD is restoring it), is an
update that starts it if need be and waits for its boot and its sshd. The commands run `lxc` with LXD_DIR set
to the dev box's LXD.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult
from pulumi.dynamic import ResourceProvider, UpdateResult

INPUTS = ("lxd_dir", "name", "image", "nics", "nesting", "files", "remove", "after_boot",
          "address", "ssh_port")
BOOT_TIMEOUT = 180  # seconds for systemd to finish booting and sshd to answer
BOOTED = ("running", "degraded")   # `systemctl is-system-running` of a machine done booting


class DevHostError(RuntimeError):
    pass


def normalize(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Defaults and checks; values still unknown (a preview) pass through unchecked."""
    props = {"lxd_dir": news.get("lxd_dir", ""), "name": news.get("name", ""),
             "image": news.get("image", ""), "nics": news.get("nics") or [],
             "nesting": bool(news.get("nesting")), "files": news.get("files") or [],
             "remove": news.get("remove") or [], "after_boot": news.get("after_boot") or [],
             "address": news.get("address", ""), "ssh_port": int(news.get("ssh_port") or 22)}
    failures = []
    if not os.path.isabs(str(props["lxd_dir"])):
        failures.append(CheckFailure("lxd_dir", "must be the dev box LXD's absolute LXD_DIR"))
    if not props["name"] or not str(props["name"]).replace("-", "").isalnum():
        failures.append(CheckFailure("name", f"must be a container name, got {props['name']!r}"))
    for nic in props["nics"] if isinstance(props["nics"], list) else []:
        if not isinstance(nic, dict) or not {"device", "bridge", "ifname"} <= set(nic):
            failures.append(CheckFailure("nics", f"each needs device, bridge, ifname: {nic!r}"))
    for f in props["files"] if isinstance(props["files"], list) else []:
        if isinstance(f, dict) and not str(f.get("path", "")).startswith("/"):
            failures.append(CheckFailure("files", "each needs an absolute path"))
    return props, failures


def lxc(*args: str) -> list[str]:
    return ["lxc", *args]


def init_argvs(props: dict) -> list[list[str]]:
    """Container and NICs, before anything is written into it."""
    config = ["-c", "security.nesting=true"] if props["nesting"] else []
    argvs = [lxc("init", props["image"], props["name"], *config)]
    for nic in props["nics"]:
        argvs.append(lxc("config", "device", "add", props["name"], nic["device"], "nic",
                         "nictype=bridged", f"parent={nic['bridge']}", f"name={nic['ifname']}"))
    return argvs


def push_argv(props: dict, path: str, mode: str) -> list[str]:
    """Writes stdin to PATH in the (stopped) container, root's, with MODE from the first byte."""
    return lxc("file", "push", "--create-dirs", "--uid", "0", "--gid", "0", "--mode", mode,
               "-", f"{props['name']}{path}")


def parse_status(text: str) -> Optional[str]:
    """The container's status ("Running", "Stopped" …) from `lxc query /1.0/instances/NAME`."""
    try:
        return json.loads(text).get("status")
    except (ValueError, AttributeError):
        return None


def sshd_answers(address: str, port: int, attempts: int = 1, timeout: float = 3.0) -> bool:
    """An SSH server's banner on address:port (a TCP accept alone may be a half-booted host)."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.5)
        try:
            with socket.create_connection((address, port), timeout=timeout) as conn:
                conn.settimeout(timeout)
                if conn.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
    return False


class DevHostProvider(ResourceProvider):
    def _run(self, props: dict, argv: list[str], stdin: str = "", timeout: int = 300,
             check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, input=stdin, text=True, capture_output=True, timeout=timeout,
                              env={**os.environ, "LXD_DIR": props["lxd_dir"]})
        if check and done.returncode != 0:
            shown = argv[:6] if argv[1:3] == ["file", "push"] else argv
            raise DevHostError(f"{' '.join(shown)} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-1500:]}")
        return done

    def status(self, props: dict) -> Optional[str]:
        try:
            done = self._run(props, ["lxc", "query", f"/1.0/instances/{props['name']}"],
                             timeout=60, check=False)
        except subprocess.TimeoutExpired:
            return None
        return parse_status(done.stdout) if done.returncode == 0 else None

    def serving(self, props: dict) -> bool:
        """Running, and its systemd done booting: the machine is up (its sshd and daemons are
        the layers' business: a stopped sshd is an error `up` reports, not a reboot)."""
        if self.status(props) != "Running":
            return False
        try:
            state = self._run(props, lxc("exec", props["name"], "--", "systemctl",
                                         "is-system-running"), timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return False
        return state.stdout.strip() in BOOTED

    def check(self, _olds, news):
        props, failures = normalize(news)
        return CheckResult(props, failures)

    def diff(self, _id, olds, news):
        changed = [k for k in INPUTS if olds.get(k) != news.get(k)]
        down = not changed and (olds.get("status") not in (None, "Running")
                                or not self.serving(olds))
        return DiffResult(changes=bool(changed) or down, replaces=changed,
                          delete_before_replace=True)

    def _boot(self, props: dict) -> None:
        """Start (unless LXD already is restoring it), wait for systemd, run the after-boot
        commands, wait for sshd."""
        name = props["name"]
        self._run(props, ["lxd", "waitready", "--timeout", "60"], timeout=90)
        if self.status(props) != "Running":
            started = self._run(props, lxc("start", name), timeout=120, check=False)
            if started.returncode != 0 and self.status(props) != "Running":
                raise DevHostError(f"lxc start {name} failed: "
                                   f"{(started.stderr or started.stdout).strip()[-1500:]}")
        deadline, state = time.monotonic() + BOOT_TIMEOUT, ""
        # "offline" or nothing at all until systemd owns PID 1 and its bus; then it waits.
        while state not in BOOTED and time.monotonic() < deadline:
            state = self._run(props, lxc("exec", name, "--", "timeout", "30", "systemctl",
                                         "is-system-running", "--wait"),
                              timeout=60, check=False).stdout.strip()
            if state not in BOOTED:
                time.sleep(0.5)
        if state not in BOOTED:
            failed = self._run(props, lxc("exec", name, "--", "systemctl", "--failed"),
                               check=False).stdout
            raise DevHostError(f"{name}: systemd did not finish booting ({state!r}):\n{failed}")
        for script in props["after_boot"]:
            self._run(props, lxc("exec", name, "--", "sh", "-c", script), timeout=120)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not sshd_answers(props["address"], int(props["ssh_port"])):
            if time.monotonic() > deadline:
                raise DevHostError(f"{name}: sshd does not answer on "
                                   f"{props['address']}:{props['ssh_port']}")
            time.sleep(0.3)

    def create(self, props):
        name = props["name"]
        self._run(props, lxc("delete", "--force", name), check=False)   # a half-made one
        try:
            for argv in init_argvs(props):
                self._run(props, argv)
            for f in props["files"]:
                self._run(props, push_argv(props, f["path"], f.get("mode", "0644")),
                          stdin=f.get("content", ""))
            for path in props["remove"]:
                self._run(props, lxc("file", "delete", f"{name}{path}"), check=False)
            self._boot(props)
        except (DevHostError, subprocess.TimeoutExpired):
            self._run(props, lxc("delete", "--force", name), check=False)
            raise
        return CreateResult(id_=name, outs={**props, "status": "Running"})

    def read(self, id_, props):
        status = self.status(props)
        if status is None:
            return ReadResult(None, {})
        outs = {**props, "status": status}
        return ReadResult(id_, outs, {k: props.get(k) for k in INPUTS})

    def update(self, _id, _olds, news):
        # Only a stopped container comes here (any input change replaces it).
        self._boot(news)
        return UpdateResult(outs={**news, "status": "Running"})

    def delete(self, id_, props):
        self._run(props, lxc("delete", "--force", id_), timeout=180, check=False)
        if self.status(props) is not None:
            raise DevHostError(f"container {id_} is still there after `lxc delete --force`")


class DevHost(pulumi.dynamic.Resource, module="dev", name="DevHost"):
    status: pulumi.Output[str]

    def __init__(self, resource_name: str, lxd_dir: str, name: str, image: pulumi.Input[str],
                 nics: list[dict], files: pulumi.Input[list], address: str, ssh_port: int = 22,
                 nesting: bool = False, remove: Optional[list[str]] = None,
                 after_boot: Optional[list[str]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(DevHostProvider(), resource_name, {
            "lxd_dir": lxd_dir, "name": name, "image": image, "nics": nics, "nesting": nesting,
            "files": files, "remove": remove or [], "after_boot": after_boot or [],
            "address": address, "ssh_port": ssh_port, "status": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                additional_secret_outputs=["files"])))
