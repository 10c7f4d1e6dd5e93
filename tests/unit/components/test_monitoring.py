import tomllib

import pytest
import yaml

from components.monitoring import Monitoring
from tests.support.netlab import context, registered, stack_spec


@pytest.fixture(scope="module")
def home():
    ctx = context(stack_spec("home"))
    mocks, mon = registered(lambda: Monitoring("mon", ctx))
    return mocks, mon, ctx


def test_telegraf_on_every_host_writes_to_influxdb(home):
    mocks, _, ctx = home
    for host in ctx.spec.hosts:
        write = mocks.inputs(f"mon-telegraf-{host.name}-config-write")
        assert write["connection"]["host"] == str(host.address)
        config = tomllib.loads(write["content"])
        assert config["outputs"]["influxdb_v2"][0]["urls"] == ["http://10.0.0.2:8086"]
        assert config["agent"]["hostname"] == host.name
        assert set(config["inputs"]) == {"cpu", "mem", "disk", "net", "system"}
        assert "mammatus-telegraf" in mocks.inputs(f"mon-telegraf-{host.name}-run")["create"]


def test_tick_stack_and_grafana_on_the_monitoring_host(home):
    mocks, _, _ = home
    for service in ("influxdb", "kapacitor", "chronograf", "grafana"):
        run = mocks.inputs(f"mon-{service}-run")
        assert run["connection"]["host"] == "10.0.0.2" and f"mammatus-{service}" in run["create"]
    ds = yaml.safe_load(mocks.inputs("mon-grafana-datasource-write")["content"])
    assert ds["datasources"][0]["url"] == "http://10.0.0.2:8086"
    assert '"uid": "mammatus-hosts"' in mocks.inputs("mon-grafana-dashboard-hosts-write")["content"]
    ini = mocks.inputs("mon-grafana-config-write")
    assert "admin_password = " + "x" * 24 in ini["content"] and ini["mode"] == "0600"


def test_kapacitor_alert_rules_are_files_in_its_load_dir(home):
    mocks, mon, _ = home
    for rule in ("cpu-high", "disk-high", "mem-high", "host-down"):
        write = mocks.inputs(f"mon-kapacitor-task-{rule}-write")
        assert "/etc/mammatus/kapacitor/load/tasks/" in write["path"]
        assert 'dbrp "telegraf"."autogen"' in write["content"]
    assert "|deadman(" in mocks.inputs("mon-kapacitor-task-host-down-write")["content"]
    assert "> 90" in mocks.inputs("mon-kapacitor-task-cpu-high-write")["content"]


def test_ntopng_on_the_gateway_lan_port(home):
    mocks, _, _ = home
    write = mocks.inputs("mon-ntopng-config-write")
    assert write["connection"]["host"] == "10.0.0.1"
    lines = write["content"].splitlines()
    assert "-i=eth1" in lines and "-m=10.0.0.0/24" in lines


def test_the_endpoints_later_layers_get(home):
    _, mon, _ = home
    assert mon.endpoints.influx_url == "http://10.0.0.2:8086"
    assert mon.endpoints.grafana_url == "http://10.0.0.2:3000"
    assert mon.endpoints.host == "control"
