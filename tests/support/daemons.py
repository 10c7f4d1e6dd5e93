"""Starting real daemons on loopback for integration tests: free ports, waiting, stopping by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from typing import Callable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], bool], what: str, attempts: int = 100, delay: float = 0.1,
             proc: subprocess.Popen | None = None, log: str | None = None) -> None:
    """Polls until `predicate()` is true; fails naming `what` (and the daemon's log)."""
    for _ in range(attempts):
        if proc is not None and proc.poll() is not None:
            break
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(delay)
    tail = ""
    if log and os.path.exists(log):
        with open(log) as f:
            tail = f.read()[-3000:]
    raise AssertionError(f"{what} did not happen\n{tail}")


def start(argv: list[str], log: str, cwd: str | None = None, env: dict | None = None
          ) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stops a process we started, by its PID: `sig` first (SIGKILL for a crash test), then
    SIGKILL if it has not exited after 15 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    """Until something accepts on 127.0.0.1:port; fails early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class LoopbackDaemon:
    """A daemon of ours on a loopback port: started, awaited on its port, stopped by PID, and
    restartable on the same port (durability tests). Subclasses say how it is run."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def log_file(self) -> str:
        raise NotImplementedError

    def popen_kwargs(self) -> dict:
        return {}

    def start(self):
        log = open(self.log_file(), "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                     **self.popen_kwargs())
        log.close()
        wait_for_port(self.port, self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        stop(self.proc, sig)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
