"""Monitoring renderers: Telegraf and Kapacitor TOML through tomllib, Grafana YAML/JSON, ntopng
and the TICKscripts structurally (those tools are not in Debian; InfluxDB's config is loaded by
the real influxd in tests/integration/render/test_influx.py)."""

import json

import yaml

from components.render import grafana


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
