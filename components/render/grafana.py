"""Grafana: grafana.ini, the provisioned InfluxDB datasource (YAML), a dashboard provider (YAML)
and a host-overview dashboard (JSON) provisioned from file. Pure; parsed with PyYAML/json in
tests (Grafana is not packaged in Debian bookworm).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from components.render.influx import DATABASE
from components.render.paths import HostPaths

PORT = 3000
DATASOURCE_UID = "mammatus-influxdb"


@dataclass(frozen=True)
class GrafanaPaths(HostPaths):
    config: str = "/etc/mammatus/grafana/grafana.ini"
    provisioning: str = "/etc/mammatus/grafana/provisioning"
    dashboards: str = "/var/lib/mammatus/grafana/dashboards"
    data: str = "/var/lib/mammatus/grafana/data"

    @property
    def datasource_file(self) -> str:
        return f"{self.provisioning}/datasources/mammatus.yaml"

    @property
    def dashboard_provider_file(self) -> str:
        return f"{self.provisioning}/dashboards/mammatus.yaml"

    @property
    def dashboard_file(self) -> str:
        return f"{self.dashboards}/hosts.json"


def grafana_ini(paths: GrafanaPaths, admin_password: str, domain: str,
                root_url: str | None = None, port: int = PORT) -> str:
    lines = [
        "; Grafana for the Mammatus monitoring layer (rendered; do not edit).",
        "[paths]", f"data = {paths.data}", f"provisioning = {paths.provisioning}", "",
        "[server]", "http_addr =", f"http_port = {port}", f"domain = {domain}",
        *( [f"root_url = {root_url}"] if root_url else []), "",
        "[security]", "admin_user = admin", f"admin_password = {admin_password}",
        "disable_gravatar = true", "",
        "[users]", "allow_sign_up = false", "",
        "[analytics]", "reporting_enabled = false", "check_for_updates = false", "",
    ]
    return "\n".join(lines)


def datasource_yaml(influx_url: str) -> str:
    return yaml.safe_dump({"apiVersion": 1, "datasources": [{
        "name": "InfluxDB", "uid": DATASOURCE_UID, "type": "influxdb", "access": "proxy",
        "url": influx_url, "isDefault": True, "editable": False,
        "jsonData": {"dbName": DATABASE, "httpMode": "GET"},
    }]}, sort_keys=False)


def dashboard_provider_yaml(paths: GrafanaPaths) -> str:
    return yaml.safe_dump({"apiVersion": 1, "providers": [{
        "name": "mammatus", "orgId": 1, "folder": "Mammatus", "type": "file",
        "disableDeletion": True, "allowUiUpdates": False, "updateIntervalSeconds": 60,
        "options": {"path": paths.dashboards, "foldersFromFilesStructure": False},
    }]}, sort_keys=False)


def _panel(panel_id: int, title: str, query: str, unit: str, x: int, y: int) -> dict:
    return {
        "id": panel_id, "type": "timeseries", "title": title,
        "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "rawQuery": True, "resultFormat": "time_series",
                     "query": query}],
    }


def hosts_dashboard() -> str:
    where = "WHERE \"host\" =~ /^$host$/ AND $timeFilter"
    panels = [
        _panel(1, "CPU busy %", f'SELECT 100 - mean("usage_idle") FROM "cpu" {where} AND "cpu" = \'cpu-total\' GROUP BY time($__interval), "host"', "percent", 0, 0),
        _panel(2, "Memory used %", f'SELECT mean("used_percent") FROM "mem" {where} GROUP BY time($__interval), "host"', "percent", 12, 0),
        _panel(3, "Disk used %", f'SELECT last("used_percent") FROM "disk" {where} GROUP BY time($__interval), "host", "path"', "percent", 0, 8),
        _panel(4, "Network in (bytes/s)", f'SELECT non_negative_derivative(mean("bytes_recv"), 1s) FROM "net" {where} GROUP BY time($__interval), "host", "interface"', "Bps", 12, 8),
        _panel(5, "Load (1m)", f'SELECT mean("load1") FROM "system" {where} GROUP BY time($__interval), "host"', "short", 0, 16),
    ]
    dashboard = {
        "uid": "mammatus-hosts", "title": "Mammatus hosts", "tags": ["mammatus"],
        "timezone": "browser", "schemaVersion": 39, "version": 1, "editable": False,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "templating": {"list": [{
            "name": "host", "type": "query", "label": "Host", "multi": True, "includeAll": True,
            "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
            "query": 'SHOW TAG VALUES FROM "system" WITH KEY = "host"', "refresh": 2,
        }]},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"
