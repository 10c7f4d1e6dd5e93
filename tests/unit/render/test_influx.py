"""InfluxDB's config through tomllib and the InfluxQL Mammatus sends (the real influxd loads the
config in tests/integration/render/test_influx.py and runs the statements in
tests/integration/dynamic_providers/test_influxdb.py)."""

import tomllib

from components.render import influx


def test_influx_config_keeps_data_under_its_root_with_auth_and_https():
    paths = influx.InfluxPaths()
    config = tomllib.loads(influx.influxdb_config(paths, http_bind="10.0.0.2:8086", tls=True))
    assert config["data"]["dir"] == "/var/lib/mammatus/influxdb/data"
    http = config["http"]
    assert http["bind-address"] == "10.0.0.2:8086" and config["reporting-disabled"] is True
    assert http["auth-enabled"] is True and http["https-enabled"] is True
    assert http["https-certificate"] == paths.tls_cert and http["https-private-key"] == paths.tls_key
    assert config["meta"]["retention-autocreate"] is False
    plain = tomllib.loads(influx.influxdb_config(paths))["http"]
    assert plain["https-enabled"] is False and "https-certificate" not in plain


def test_statements_quote_names_and_passwords():
    assert influx.database_statements("30d", policy_exists=False) == [
        'CREATE DATABASE "telegraf"',
        'CREATE RETENTION POLICY "mammatus" ON "telegraf" DURATION 30d REPLICATION 1 DEFAULT']
    assert influx.database_statements("INF", policy_exists=True)[1].startswith("ALTER RETENTION")
    made = influx.user_statements("telegraf", "it's", "WRITE", exists=False)
    assert made == ["CREATE USER \"telegraf\" WITH PASSWORD 'it\\'s'",
                    'REVOKE ALL ON "telegraf" FROM "telegraf"', 'GRANT WRITE ON "telegraf" TO "telegraf"']
    assert influx.user_statements("u", "p", "READ", exists=True)[0] == "SET PASSWORD FOR \"u\" = 'p'"


def test_retention_is_checked():
    assert influx.check_duration("30d") is None and influx.check_duration("INF") is None
    assert influx.check_duration("30 days") and influx.check_duration("0d")
