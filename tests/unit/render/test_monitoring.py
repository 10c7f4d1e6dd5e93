"""Monitoring renderers: Telegraf and Kapacitor TOML through tomllib, Grafana YAML/JSON, ntopng
and the TICKscripts structurally (those tools are not in Debian; InfluxDB's config is loaded by
the real influxd in tests/integration/render/test_influx.py)."""

import ipaddress
import json
import re
import tomllib

import yaml

from components.render import grafana, influx, kapacitor, ntopng, telegraf


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


def test_kapacitor_config_points_at_influxdb_and_loads_tasks():
    paths = kapacitor.KapacitorPaths()
    config = tomllib.loads(kapacitor.kapacitor_config(paths, "http://127.0.0.1:8086", "control"))
    assert config["influxdb"][0]["urls"] == ["http://127.0.0.1:8086"]
    assert config["load"] == {"enabled": True, "dir": "/etc/mammatus/kapacitor/load"}


def test_alert_rules_cpu_disk_mem_and_host_down():
    tasks = kapacitor.alert_tasks(kapacitor.KapacitorPaths(), post_url="http://hook")
    names = {path.rsplit("/", 1)[1] for path in tasks}
    assert names == {"cpu_high.tick", "disk_high.tick", "mem_high.tick", "host_down.tick"}
    assert all(p.startswith("/etc/mammatus/kapacitor/load/tasks/") for p in tasks)
    for path, script in tasks.items():
        assert script.count("(") == script.count(")"), path
        assert 'dbrp "telegraf"."autogen"' in script and "|alert()" in script or "|deadman(" in script
        assert ".post('http://hook')" in script
    cpu = tasks["/etc/mammatus/kapacitor/load/tasks/cpu_high.tick"]
    assert "lambda: 100.0 - \"usage_idle\"" in cpu and '.crit(lambda: "value" > 90)' in cpu
    disk = tasks["/etc/mammatus/kapacitor/load/tasks/disk_high.tick"]
    assert ".measurement('disk')" in disk and '.crit(lambda: "value" > 90)' in disk
    assert re.search(r"\|deadman\(0\.0, 1m\)", tasks["/etc/mammatus/kapacitor/load/tasks/host_down.tick"])


def test_grafana_datasource_dashboard_provider_and_dashboard():
    paths = grafana.GrafanaPaths()
    ds = yaml.safe_load(grafana.datasource_yaml("http://10.0.0.2:8086"))["datasources"][0]
    assert (ds["type"], ds["url"], ds["jsonData"]["dbName"]) == ("influxdb", "http://10.0.0.2:8086", "telegraf")
    provider = yaml.safe_load(grafana.dashboard_provider_yaml(paths))["providers"][0]
    assert provider["options"]["path"] == paths.dashboards and provider["type"] == "file"
    dashboard = json.loads(grafana.hosts_dashboard())
    assert dashboard["uid"] == "mammatus-hosts"
    assert all(p["datasource"]["uid"] == ds["uid"] for p in dashboard["panels"])
    assert {p["gridPos"]["y"] for p in dashboard["panels"]} == {0, 8, 16}
    ini = grafana.grafana_ini(paths, "s3cret", "grafana.mammatus")
    assert "admin_password = s3cret" in ini and f"provisioning = {paths.provisioning}" in ini


def test_ntopng_watches_the_lan_port_with_local_networks():
    text = ntopng.ntopng_config(ntopng.NtopngPaths(), ["eth1"], [ipaddress.IPv4Network("10.0.0.0/24")])
    lines = text.splitlines()
    assert "-i=eth1" in lines and "-m=10.0.0.0/24" in lines and "-w=3001" in lines
    assert all(line.startswith(("#", "-")) for line in lines if line)


def test_influx_config_keeps_data_under_its_root():
    config = tomllib.loads(influx.influxdb_config(influx.InfluxPaths()))
    assert config["data"]["dir"] == "/var/lib/mammatus/influxdb/data"
    assert config["http"]["bind-address"] == ":8086" and config["reporting-disabled"] is True
    cmd = influx.chronograf_command("chronograf", influx.InfluxPaths(), "http://i", "http://k")
    assert "--influxdb-url=http://i" in cmd and "--kapacitor-url=http://k" in cmd
