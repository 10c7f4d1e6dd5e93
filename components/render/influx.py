"""InfluxDB 1.x server config (influxdb.conf, TOML) and the statements that set it up.

The monitoring host keeps every host's and instance's metrics in the `telegraf` database, under
the retention policy `mammatus` (the spec's `monitoring.retention`). Authentication is on: an
admin that only Pulumi uses, a `telegraf` user that may only write and a `kapacitor` user that
may only read (dynamic_providers/influxdb.py applies them). With the cloud's CA, HTTPS on the
host's LAN address. Debian's influxdb package (1.6.7) runs it. Pure functions; `influxd config
-config` loads the rendered file in tests, and the statements run against the real daemon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from components.render.paths import HostPaths

HTTP_PORT = 8086
DATABASE = "telegraf"
RETENTION_POLICY = "mammatus"
WRITER, READER, ADMIN = "telegraf", "kapacitor", "mammatus-admin"
INSTANCE_PREFIX = "instance-"   # each instance's own write-only user: instance-<name>


def instance_user(instance: str) -> str:
    return f"{INSTANCE_PREFIX}{instance}"
_DURATION = re.compile(r"^(INF|[1-9][0-9]*[hdw])$")


@dataclass(frozen=True)
class InfluxPaths(HostPaths):
    config: str = "/etc/mammatus/influxdb/influxdb.conf"
    data_root: str = "/var/lib/mammatus/influxdb"
    tls_cert: str = "/etc/mammatus/influxdb/tls.crt"
    tls_key: str = "/etc/mammatus/influxdb/tls.key"


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxdb_config(paths: InfluxPaths, http_bind: str = f":{HTTP_PORT}",
                    rpc_bind: str = "127.0.0.1:8088", tls: bool = False) -> str:
    root = paths.data_root
    https = ([f"  https-certificate = {_q(paths.tls_cert)}",
              f"  https-private-key = {_q(paths.tls_key)}"] if tls else [])
    return "\n".join([
        "# InfluxDB 1.x for the Mammatus monitoring layer (rendered; do not edit).",
        "reporting-disabled = true",
        f"bind-address = {_q(rpc_bind)}",
        "",
        "[meta]",
        f"  dir = {_q(root + '/meta')}",
        "  retention-autocreate = false",
        "",
        "[data]",
        f"  dir = {_q(root + '/data')}",
        f"  wal-dir = {_q(root + '/wal')}",
        '  index-version = "tsi1"',
        "  query-log-enabled = false",
        "",
        "[retention]",
        "  enabled = true",
        '  check-interval = "30m"',
        "",
        "[monitor]",
        "  store-enabled = false",
        "",
        "[subscriber]",
        "  enabled = false",
        "",
        "[http]",
        "  enabled = true",
        f"  bind-address = {_q(http_bind)}",
        "  auth-enabled = true",
        "  log-enabled = false",
        f"  https-enabled = {'true' if tls else 'false'}",
        *https,
        "",
    ])


def influx_url(host: str, port: int = HTTP_PORT, tls: bool = False) -> str:
    return f"{'https' if tls else 'http'}://{host}:{port}"


def check_duration(value: str) -> Optional[str]:
    """InfluxQL's duration for a retention policy (e.g. 30d, 12w, 720h, INF); None if fine."""
    return None if _DURATION.match(value) else (
        f"must be a whole number of h, d or w (e.g. 30d), or INF; got {value!r}")


def ident(name: str) -> str:
    """An InfluxQL identifier, double-quoted."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string(value: str) -> str:
    """An InfluxQL string literal, single-quoted."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def database_statements(retention: str, policy_exists: bool) -> list[str]:
    """The database (CREATE is idempotent) with its one retention policy, the default."""
    db, rp = ident(DATABASE), ident(RETENTION_POLICY)
    verb = "ALTER" if policy_exists else "CREATE"
    return [f"CREATE DATABASE {db}",
            f"{verb} RETENTION POLICY {rp} ON {db} DURATION {retention} REPLICATION 1 DEFAULT"]


def user_statements(user: str, password: str, privilege: str, exists: bool) -> list[str]:
    """A user with exactly one privilege on the database (WRITE or READ)."""
    made = (f"SET PASSWORD FOR {ident(user)} = {string(password)}" if exists
            else f"CREATE USER {ident(user)} WITH PASSWORD {string(password)}")
    return [made, f"REVOKE ALL ON {ident(DATABASE)} FROM {ident(user)}",
            f"GRANT {privilege} ON {ident(DATABASE)} TO {ident(user)}"]
