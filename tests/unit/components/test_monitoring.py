import tomllib

import pytest

from components.monitoring import Monitoring
from tests.support.netlab import context, registered, stack_spec


@pytest.fixture(scope="module")
def home():
    from components.ca import CertificateAuthority

    ctx = context(stack_spec("home"))

    def build():
        ca = CertificateAuthority("mon-ca", ctx)
        return Monitoring("mon", ctx, ca=ca.handle)
    mocks, mon = registered(build)
    return mocks, mon, ctx


def test_telegraf_on_every_host_writes_to_influxdb_over_https_as_the_writer(home):
    mocks, _, ctx = home
    for host in ctx.spec.hosts:
        write = mocks.inputs(f"mon-telegraf-{host.name}-config-write")
        assert write["connection"]["host"] == str(host.address)
        assert write["mode"] == "0600" and write["owner"] == "telegraf:telegraf"
        config = tomllib.loads(write["content"])
        out = config["outputs"]["influxdb"][0]
        assert out["urls"] == ["https://10.0.0.2:8086"] and out["username"] == "telegraf"
        assert out["password"] and out["tls_ca"] == "/etc/mammatus/telegraf/ca-root.pem"
        assert config["agent"]["hostname"] == host.name
        assert ("conntrack" in config["inputs"]) == (host.name == "gateway")
        assert config["inputs"]["systemd_units"][0]["pattern"] == "mammatus-*"
        assert "mammatus-telegraf" in mocks.inputs(f"mon-telegraf-{host.name}-run")["create"]


def test_influxdb_on_the_monitoring_host_with_auth_https_and_the_spec_retention(home):
    mocks, mon, ctx = home
    conf = tomllib.loads(mocks.inputs("mon-influxdb-config-write")["content"])
    assert conf["http"]["bind-address"] == "10.0.0.2:8086"
    assert conf["http"]["auth-enabled"] is True and conf["http"]["https-enabled"] is True
    run = mocks.inputs("mon-influxdb-run")["create"]
    assert "mammatus-influxdb" in run and "User=influxdb" in run
    setup = mocks.inputs("mon-influx-setup")
    assert setup["url"] == "https://10.0.0.2:8086" and setup["retention"] == ctx.spec.monitoring.retention
    # The hosts' Telegraf, Kapacitor, and each instance's own write user.
    assert set(setup["passwords"]) == {"telegraf", "kapacitor", "instance-web-1",
                                       "instance-web-2", "instance-db-1"}
    assert mon.endpoints.influx_url == "https://10.0.0.2:8086"


def test_no_console_daemons_run(home):
    mocks, _, _ = home
    names = {r.name for r in mocks.resources}
    assert not [n for n in names if "grafana" in n or "chronograf" in n or "ntopng" in n]
