"""InfluxDB 1.x server config (influxdb.conf, TOML) and Chronograf's flags.

The monitoring host keeps Telegraf's metrics in the `telegraf` database (retention policy
`autogen`); Telegraf writes through InfluxDB's v2-compatible write API (InfluxDB >= 1.8, or 2.x
with a DBRP mapping). Pure functions; `influxd config -config` (Debian's influxdb) loads the
rendered file in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.render.paths import HostPaths

HTTP_PORT = 8086
CHRONOGRAF_PORT = 8888
DATABASE = "telegraf"
RETENTION_POLICY = "autogen"


@dataclass(frozen=True)
class InfluxPaths(HostPaths):
    config: str = "/etc/mammatus/influxdb/influxdb.conf"
    data_root: str = "/var/lib/mammatus/influxdb"
    chronograf_db: str = "/var/lib/mammatus/chronograf/chronograf-v1.db"


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxdb_config(paths: InfluxPaths, http_bind: str = f":{HTTP_PORT}",
                    rpc_bind: str = "127.0.0.1:8088") -> str:
    root = paths.data_root
    return "\n".join([
        "# InfluxDB 1.x for the Mammatus monitoring layer (rendered; do not edit).",
        "reporting-disabled = true",
        f"bind-address = {_q(rpc_bind)}",
        "",
        "[meta]",
        f"  dir = {_q(root + '/meta')}",
        "  retention-autocreate = true",
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
        "  store-enabled = true",
        "",
        "[http]",
        "  enabled = true",
        f"  bind-address = {_q(http_bind)}",
        "  auth-enabled = false",
        "  log-enabled = false",
        "",
    ])


def influx_url(host: str, port: int = HTTP_PORT) -> str:
    return f"http://{host}:{port}"


def chronograf_command(binary: str, paths: InfluxPaths, influx: str, kapacitor: str,
                       port: int = CHRONOGRAF_PORT) -> list[str]:
    """Chronograf is configured by flags: its bolt DB, InfluxDB and Kapacitor."""
    return [binary, f"--port={port}", f"--bolt-path={paths.chronograf_db}",
            f"--influxdb-url={influx}", f"--kapacitor-url={kapacitor}"]
