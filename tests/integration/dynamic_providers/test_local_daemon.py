import os
import signal
import sys
import time

import dill
import pytest

from dynamic_providers.local_daemon import LocalDaemonProvider, pid_alive

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
