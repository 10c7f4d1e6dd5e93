"""The rendered influxdb.conf loaded by Debian's real InfluxDB 1.x (`influxd config`), and the
daemon started with it on loopback answering /ping and refusing anonymous statements (the
setup with credentials: tests/integration/dynamic_providers/test_influxdb.py)."""

import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from components.render import influx
from tests.support.daemons import free_port, start, stop, wait_for

pytestmark = pytest.mark.integration

INFLUXD = shutil.which("influxd")


@pytest.fixture
def rendered(tmp_path):
    if INFLUXD is None:
        pytest.fail("influxd missing: run tools/setup/system.sh (tools/setup/platform.sh)")
    paths = influx.InfluxPaths().under(lambda p: str(tmp_path) + p)
    port = free_port()
    conf = tmp_path / "influxdb.conf"
    conf.write_text(influx.influxdb_config(paths, http_bind=f"127.0.0.1:{port}",
                                           rpc_bind=f"127.0.0.1:{free_port()}"))
    return conf, paths, port


def test_influxd_loads_the_rendered_config(rendered):
    conf, paths, port = rendered
    out = subprocess.run([INFLUXD, "config", "-config", str(conf)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert f'dir = "{paths.data_root}/data"' in out.stdout
    assert f'bind-address = "127.0.0.1:{port}"' in out.stdout
    assert 'index-version = "tsi1"' in out.stdout


def test_influxd_refuses_a_broken_config(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text(influx.influxdb_config(influx.InfluxPaths()).replace("[http]", "[http"))
    out = subprocess.run([INFLUXD, "config", "-config", str(bad)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0


def test_influxd_serves_with_the_rendered_config_and_refuses_anonymous_queries(rendered, tmp_path):
    conf, _, port = rendered
    proc = start([INFLUXD, "-config", str(conf)], str(tmp_path / "influxd.log"))
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: urllib.request.urlopen(f"{url}/ping").status == 204, "influxd /ping",
                 attempts=200, proc=proc, log=str(tmp_path / "influxd.log"))
        q = urllib.parse.urlencode({"q": f"CREATE DATABASE {influx.DATABASE}"}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/query", data=q)
        assert refused.value.code in (401, 403)   # authentication is on from the first start
    finally:
        stop(proc)
