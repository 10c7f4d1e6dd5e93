"""The rendered Telegraf config run by the real Telegraf (tools/telegraf, 1.37.2 with the
plugins Mammatus renders): `--test` gathers every input, and `--once` writes to Debian's real
InfluxDB 1.x over HTTPS as the `telegraf` user Mammatus sets up (the reader then finds the
points). systemd_units needs systemd as PID 1, which this machine lacks: the e2e test checks it
on the dev stack's hosts."""

import subprocess

import pytest

from components.render import telegraf
from tests.support.influxdb import PASSWORDS, start_influxd, stop_influxd
from tests.support.paths import built_tool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def binary():
    return built_tool("telegraf")


def test_every_rendered_input_gathers(binary, tmp_path):
    conf = tmp_path / "telegraf.conf"
    conf.write_text(telegraf.telegraf_config("http://127.0.0.1:9", hostname="gw",
                                             tags={"roles": "gateway"}, units=None, gateway=True))
    result = subprocess.run([binary, "--config", str(conf), "--test"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    measurements = {line.split(",", 1)[0][2:] for line in result.stdout.splitlines()
                    if line.startswith("> ")}
    assert measurements >= {"cpu", "mem", "disk", "diskio", "net", "system", "processes",
                            "internal_agent", "conntrack", "nstat"}, measurements
    assert "host=gw" in result.stdout and "roles=gateway" in result.stdout


def test_metrics_reach_influxdb_as_the_writer_over_https(binary, tmp_path):
    server = start_influxd(tmp_path)
    try:
        server.set_up()
        conf = tmp_path / "telegraf.conf"
        conf.write_text(telegraf.telegraf_config(server.url, hostname="node-1", units=None,
                                                 password=PASSWORDS["telegraf"],
                                                 ca_file=server.ca_file))
        result = subprocess.run([binary, "--config", str(conf), "--once"], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        got = server.query('SELECT last("usage_idle") FROM "telegraf"."mammatus"."cpu" '
                           "GROUP BY \"host\"", "kapacitor", PASSWORDS["kapacitor"])
        assert got[0]["series"][0]["tags"] == {"host": "node-1"}
        # A wrong password is refused, and Telegraf says so.
        conf.write_text(telegraf.telegraf_config(server.url, hostname="node-2", units=None,
                                                 password="wrong", ca_file=server.ca_file))
        refused = subprocess.run([binary, "--config", str(conf), "--once"], capture_output=True,
                                 text=True, timeout=60)
        assert "authorization failed" in refused.stderr
    finally:
        stop_influxd(server)
