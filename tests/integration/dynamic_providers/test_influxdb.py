"""InfluxSetup against Debian's real influxd (1.6.7) with the rendered config: HTTPS from a
test CA, authentication on from the first start."""

import dill
import pytest

from dynamic_providers.influxdb import InfluxError, InfluxSetupProvider
from tests.support.influxdb import ADMIN_PASSWORD, start_influxd, stop_influxd

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path):
    server = start_influxd(tmp_path)
    yield server
    stop_influxd(server)


def test_first_up_makes_admin_database_policy_and_least_privilege_users(server):
    provider = dill.loads(dill.dumps(InfluxSetupProvider(), recurse=True))
    checked = provider.check({}, {"url": server.url, "ca_pem": server.ca_pem, "retention": "30d",
                                  "admin_password": ADMIN_PASSWORD,
                                  "passwords": {"telegraf": "w", "kapacitor": "r"}})
    assert checked.failures == []
    created = provider.create(checked.inputs)
    assert created.outs["users"] == ["kapacitor", "telegraf"]
    policies = server.query('SHOW RETENTION POLICIES ON "telegraf"')
    assert [(p[0], p[1], p[4]) for p in policies[0]["series"][0]["values"]] == [("mammatus", "720h0m0s", True)]
    # The writer writes and cannot read; the reader reads and cannot write; nobody else either.
    assert server.write("telegraf", "w", "cpu,host=a usage_idle=3") == 204
    assert server.write("kapacitor", "r", "cpu,host=a usage_idle=4") == 403
    assert server.write("telegraf", "wrong", "cpu,host=a usage_idle=5") == 401
    with pytest.raises(InfluxError, match="not authorized"):
        server.query('SELECT * FROM "telegraf"."mammatus"."cpu"', "telegraf", "w")
    got = server.query('SELECT usage_idle FROM "telegraf"."mammatus"."cpu"', "kapacitor", "r")
    assert got[0]["series"][0]["values"][0][1] == 3
    with pytest.raises(InfluxError, match="401"):
        server.query("SHOW DATABASES", user="")

    # A second up changes nothing; a new retention and a rotated admin password are updates.
    assert not provider.diff(created.id, created.outs, created.outs).changes
    news = {**created.outs, "retention": "2w", "admin_password": "n3w"}
    plan = provider.diff(created.id, created.outs, news)
    assert plan.changes and not plan.replaces
    provider.update(created.id, created.outs, news)
    policies = server.query('SHOW RETENTION POLICIES ON "telegraf"', password="n3w")
    assert policies[0]["series"][0]["values"][0][1] == "336h0m0s"

    # Drift: a user dropped by hand is seen by read, and the next apply makes it again.
    server.query('DROP USER "kapacitor"', password="n3w")
    read = provider.read(created.id, news)
    assert read.outs["users"] == ["telegraf"]
    assert provider.diff(created.id, read.inputs, news).changes
    provider.update(created.id, read.outs, news)
    assert server.query('SELECT usage_idle FROM "telegraf"."mammatus"."cpu"', "kapacitor", "r")


def test_bad_inputs_are_named():
    failures = InfluxSetupProvider().check({}, {"url": "influx:8086", "retention": "30 days",
                                                "passwords": {"root": "x"}}).failures
    assert {f.property for f in failures} == {"url", "retention", "passwords"}


def test_each_instance_writes_as_its_own_user_which_goes_with_the_instance(server):
    provider = InfluxSetupProvider()
    props = provider.check({}, {"url": server.url, "ca_pem": server.ca_pem, "retention": "30d",
                                "admin_password": ADMIN_PASSWORD,
                                "passwords": {"telegraf": "w", "kapacitor": "r",
                                              "instance-web-1": "i1", "instance-web-2": "i2"}})
    assert props.failures == []
    created = provider.create(props.inputs)
    assert server.write("instance-web-1", "i1", "cpu,host=web-1 usage_idle=7") == 204
    with pytest.raises(InfluxError, match="not authorized"):
        server.query('SELECT * FROM "telegraf"."mammatus"."cpu"', "instance-web-1", "i1")
    # web-2 is gone from the spec: its user is dropped, web-1's stays.
    news = {**created.outs, "passwords": {"telegraf": "w", "kapacitor": "r", "instance-web-1": "i1"}}
    provider.update(created.id, created.outs, news)
    assert server.write("instance-web-2", "i2", "cpu,host=web-2 usage_idle=8") == 401
    assert server.write("instance-web-1", "i1", "cpu,host=web-1 usage_idle=9") == 204
    assert provider.check({}, {**news, "passwords": {"instance-": "x"}}).failures
