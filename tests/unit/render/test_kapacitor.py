"""Monitoring renderers: Telegraf and Kapacitor TOML through tomllib, Grafana YAML/JSON, ntopng
and the TICKscripts structurally (those tools are not in Debian; InfluxDB's config is loaded by
the real influxd in tests/integration/render/test_influx.py)."""

import re
import tomllib

from components.render import kapacitor


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
