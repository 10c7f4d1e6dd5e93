"""Monitoring renderers: Telegraf and Kapacitor TOML through tomllib, Grafana YAML/JSON, ntopng
and the TICKscripts structurally (those tools are not in Debian; InfluxDB's config is loaded by
the real influxd in tests/integration/render/test_influx.py)."""

import tomllib

from components.render import telegraf


def test_telegraf_inputs_and_influxdb_v2_output():
    config = tomllib.loads(telegraf.telegraf_config("http://10.0.0.2:8086", hostname="gw",
                                                    tags={"roles": "gateway"}))
    assert set(config["inputs"]) == {"cpu", "mem", "disk", "net", "system"}
    out = config["outputs"]["influxdb_v2"][0]
    assert out["urls"] == ["http://10.0.0.2:8086"] and out["bucket"] == "telegraf/autogen"
    assert config["agent"]["hostname"] == "gw" and config["global_tags"] == {"roles": "gateway"}
    assert "outputs.influxdb]" not in telegraf.telegraf_config("http://x")


def test_telegraf_quotes_strings():
    config = tomllib.loads(telegraf.telegraf_config('http://a"b', tags={"k": 'v"\\'}))
    assert config["global_tags"]["k"] == 'v"\\'
