"""Kapacitor's config through tomllib and the TICKscripts' shape (Kapacitor's own pipeline
builder checks them in tests/integration/render/test_kapacitor.py)."""

import tomllib

from components.render import kapacitor
from stacks.spec import DEFAULT_THRESHOLDS, Threshold

PATHS = kapacitor.KapacitorPaths()


def test_kapacitor_reads_influxdb_as_the_reader_and_posts_to_the_relay():
    config = tomllib.loads(kapacitor.kapacitor_config(
        PATHS, "https://10.0.0.2:8086", "rpw", "http://127.0.0.1:9094/kapacitor", "relay-pw",
        "control", ca_file=PATHS.ca_file))
    db = config["influxdb"][0]
    assert db["urls"] == ["https://10.0.0.2:8086"] and (db["username"], db["password"]) == ("kapacitor", "rpw")
    assert db["disable-subscriptions"] is True and db["ssl-ca"] == PATHS.ca_file
    assert config["http"]["bind-address"] == "127.0.0.1:9092"
    post = config["httppost"][0]
    assert post["endpoint"] == "mammatus-alerts" and post["url"] == "http://127.0.0.1:9094/kapacitor"
    assert post["basic-auth"] == {"username": "kapacitor", "password": "relay-pw"}
    assert config["load"] == {"enabled": True, "dir": "/etc/mammatus/kapacitor/load"}
    assert config["reporting"]["enabled"] is False


def test_the_spec_thresholds_service_down_and_host_down():
    tasks = kapacitor.alert_tasks(PATHS, DEFAULT_THRESHOLDS, host_down_after="2m")
    names = {path.rsplit("/", 1)[1] for path in tasks}
    assert names == {"cpu_busy.tick", "disk_full.tick", "memory_full.tick", "service_down.tick",
                     "host_down.tick"}
    for path, script in tasks.items():
        assert path.startswith("/etc/mammatus/kapacitor/load/tasks/")
        assert script.count("(") == script.count(")"), path
        assert 'dbrp "telegraf"."mammatus"' in script and "\nbatch\n" in script
        assert ".stateChangesOnly()" in script and ".post().endpoint('mammatus-alerts')" in script
    cpu = tasks["/etc/mammatus/kapacitor/load/tasks/cpu_busy.tick"]
    assert '.crit(lambda: "value" < 10)' in cpu and "WHERE \"cpu\" = \\'cpu-total\\'" in cpu
    disk = tasks["/etc/mammatus/kapacitor/load/tasks/disk_full.tick"]
    assert ".groupBy('host', 'path')" in disk and '.warn(lambda: "value" > 80)' in disk
    assert "|deadman(0.0, 2m)" in tasks["/etc/mammatus/kapacitor/load/tasks/host_down.tick"]
    unit = tasks["/etc/mammatus/kapacitor/load/tasks/service_down.tick"]
    assert '.crit(lambda: "value" != 0)' in unit and ".groupBy('host', 'name')" in unit


def test_rules_can_be_left_out():
    odd = Threshold(name="odd", measurement="disk", field="used_percent", crit=1,
                    where={"path": "/it's"})
    tasks = kapacitor.alert_tasks(PATHS, [odd], service_down=False, host_down_after=None)
    assert list(tasks) == ["/etc/mammatus/kapacitor/load/tasks/odd.tick"]
