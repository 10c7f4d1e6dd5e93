"""Monitoring renderers: Telegraf and Kapacitor TOML through tomllib, Grafana YAML/JSON, ntopng
and the TICKscripts structurally (those tools are not in Debian; InfluxDB's config is loaded by
the real influxd in tests/integration/render/test_influx.py)."""

import tomllib

from components.render import influx


def test_influx_config_keeps_data_under_its_root():
    config = tomllib.loads(influx.influxdb_config(influx.InfluxPaths()))
    assert config["data"]["dir"] == "/var/lib/mammatus/influxdb/data"
    assert config["http"]["bind-address"] == ":8086" and config["reporting-disabled"] is True
    cmd = influx.chronograf_command("chronograf", influx.InfluxPaths(), "http://i", "http://k")
    assert "--influxdb-url=http://i" in cmd and "--kapacitor-url=http://k" in cmd
