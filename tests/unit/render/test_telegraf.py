"""Monitoring renderers: Telegraf's TOML through tomllib (the real Telegraf runs it in
tests/integration/render/test_telegraf.py)."""

import tomllib

from components.render import telegraf


def test_a_host_reports_its_units_to_influxdb_1x_as_the_writer():
    config = tomllib.loads(telegraf.telegraf_config("https://10.0.0.2:8086", hostname="ctl",
                                                    tags={"roles": "control"}, password="pw",
                                                    ca_file="/etc/mammatus/ca/root.pem"))
    assert set(config["inputs"]) == {*telegraf.INPUTS, "systemd_units"}
    assert config["inputs"]["systemd_units"][0]["pattern"] == "mammatus-*"
    out = config["outputs"]["influxdb"][0]
    assert out["urls"] == ["https://10.0.0.2:8086"] and out["database"] == "telegraf"
    assert (out["username"], out["password"], out["retention_policy"]) == ("telegraf", "pw", "mammatus")
    assert out["tls_ca"] == "/etc/mammatus/ca/root.pem" and out["skip_database_creation"] is True
    assert config["agent"]["hostname"] == "ctl" and config["global_tags"] == {"roles": "control"}
    assert "influxdb_v2" not in config["outputs"]


def test_the_gateway_also_reports_connection_tracking_and_kernel_counters():
    config = tomllib.loads(telegraf.telegraf_config("https://x", gateway=True, units=None))
    assert {"conntrack", "nstat"} <= set(config["inputs"]) and "systemd_units" not in config["inputs"]


def test_telegraf_quotes_strings():
    config = tomllib.loads(telegraf.telegraf_config('http://a"b', tags={"k": 'v"\\'}, password='p"w'))
    assert config["global_tags"]["k"] == 'v"\\' and config["outputs"]["influxdb"][0]["password"] == 'p"w'
