"""The dev stack's service manager for real: start, restart on a config change, stop — by PID."""

import os
import subprocess
import sys

import pytest

from components.service_manager import Daemon, lifecycle
from stacks.spec import ServiceManager

pytestmark = pytest.mark.integration


def sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_start_restart_stop(tmp_path):
    run = tmp_path / "run"
    daemon = Daemon("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"],
                    config_digest="v1")
    create, _, delete = lifecycle(ServiceManager.direct, daemon, str(run))
    pid_file = run / "mammatus-sleeper.pid"
    try:
        assert sh(create).returncode == 0
        first = int(pid_file.read_text())
        assert alive(first)

        changed = Daemon(**{**daemon.__dict__, "config_digest": "v2"})
        _, update, _ = lifecycle(ServiceManager.direct, changed, str(run))
        assert sh(update).returncode == 0
        second = int(pid_file.read_text())
        assert second != first and alive(second) and not alive(first)

        assert sh(delete).returncode == 0
        assert not pid_file.exists() and not alive(second)
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)


def test_a_daemon_that_dies_at_once_fails_the_create_with_its_log(tmp_path):
    daemon = Daemon("broken", [sys.executable, "-c", "import sys; sys.exit('bad config line 3')"])
    create, _, _ = lifecycle(ServiceManager.direct, daemon, str(tmp_path))
    result = sh(create)
    assert result.returncode != 0 and "bad config line 3" in result.stdout
