import os
import signal
import sys
import time

import dill
import pytest

from dynamic_providers.local_daemon import LocalDaemonProvider, pid_alive, read_pid

pytestmark = pytest.mark.integration


def test_start_drift_restart_stop(tmp_path):
    provider = dill.loads(dill.dumps(LocalDaemonProvider(), recurse=True))
    props = provider.check({}, {"argv": [sys.executable, "-c", "import time; time.sleep(300)"],
                                "pid_file": str(tmp_path / "d.pid"),
                                "log_file": str(tmp_path / "d.log")}).inputs
    created = provider.create(props)
    pid = created.outs["pid"]
    try:
        assert pid_alive(pid)
        os.kill(pid, signal.SIGKILL)  # it dies behind Pulumi's back
        for _ in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
        read = provider.read(created.id, created.outs)
        assert read.outs["running"] is False
        assert provider.diff(created.id, read.inputs, props).changes

        again = provider.update(created.id, read.outs, props)
        assert again.outs["pid"] != pid and pid_alive(again.outs["pid"])
        provider.delete(created.id, again.outs)
        assert not pid_alive(again.outs["pid"]) and not os.path.exists(created.id)
    finally:
        provider.delete(created.id, props)


def test_a_daemon_that_fails_at_once_reports_its_log(tmp_path):
    provider = LocalDaemonProvider()
    props = provider.check({}, {"argv": [sys.executable, "-c", "raise SystemExit('no host key')"],
                                "pid_file": str(tmp_path / "d.pid"),
                                "log_file": str(tmp_path / "d.log")}).inputs
    with pytest.raises(RuntimeError, match="no host key"):
        provider.create(props)


def test_a_daemon_gone_with_a_reboot_is_seen_by_diff_alone(tmp_path):
    """No refresh after a reboot: diff itself finds the daemon gone, and a PID that another
    process now has is not taken for it (nor killed as it)."""
    provider = LocalDaemonProvider()
    props = provider.check({}, {"argv": [sys.executable, "-c", "import time; time.sleep(300)"],
                                "pid_file": str(tmp_path / "d.pid"),
                                "log_file": str(tmp_path / "d.log")}).inputs
    created = provider.create(props)
    try:
        assert not provider.diff(created.id, created.outs, props).changes
        # After a reboot the file names a PID that is some other process now (here: this one).
        pid_file = tmp_path / "d.pid"
        os.kill(created.outs["pid"], signal.SIGKILL)
        pid_file.write_text(f"{os.getpid()}\n{pid_file.read_text().splitlines()[1]}\n")
        assert read_pid(str(pid_file)) is None
        assert provider.diff(created.id, created.outs, props).changes
        again = provider.update(created.id, created.outs, props)    # would kill us if it took it
        assert pid_alive(again.outs["pid"])
        assert not provider.diff(created.id, again.outs, props).changes
    finally:
        provider.delete(created.id, props)
