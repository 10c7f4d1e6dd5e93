"""Kapacitor: its config (TOML) and the spec's alert rules as TICKscripts.

Kapacitor queries InfluxDB as the read-only `kapacitor` user (batch tasks; no subscriptions, so
InfluxDB pushes nothing and Kapacitor's API listens on loopback only). Rules: the spec's
thresholds (`monitoring.thresholds`: cpu, disk, memory by default), a Mammatus unit that is not
active (`serviceDown`), and a host that sends no metrics (`hostDownAfter`, a deadman). Each
alert and its recovery go, once per change of level, to the `mammatus-alerts` httppost endpoint:
the relay (services/alerts) that publishes them to the alerts topic. Pure functions; kapacitord
loads the config and the tasks in tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Optional

from components.render.influx import DATABASE, READER, RETENTION_POLICY
from components.render.paths import HostPaths

PORT = 9092
RELAY_PORT = 9094
ENDPOINT = "mammatus-alerts"
EVERY, PERIOD = "10s", "30s"   # how often each rule asks InfluxDB, and over how much time


@dataclass(frozen=True)
class KapacitorPaths(HostPaths):
    config: str = "/etc/mammatus/kapacitor/kapacitor.conf"
    # Kapacitor's [load] dir; TICKscripts go in its tasks/ sub-directory.
    load_dir: str = "/etc/mammatus/kapacitor/load"
    data_dir: str = "/var/lib/mammatus/kapacitor"
    ca_file: str = "/etc/mammatus/kapacitor/ca-root.pem"


def _q(value: str) -> str:
    return json.dumps(value)


def kapacitor_config(paths: KapacitorPaths, influx_url: str, reader_password: str,
                     relay_url: str, relay_password: str, hostname: str,
                     ca_file: Optional[str] = None, bind: str = f"127.0.0.1:{PORT}") -> str:
    return "\n".join([
        "# Kapacitor for the Mammatus monitoring layer (rendered; do not edit).",
        f"hostname = {_q(hostname)}",
        f"data_dir = {_q(paths.data_dir)}",
        "skip-config-overrides = true",
        "",
        "[http]",
        f"  bind-address = {_q(bind)}",
        "  log-enabled = false",
        "",
        "[load]",
        "  enabled = true",
        f"  dir = {_q(paths.load_dir)}",
        "",
        "[replay]",
        f"  dir = {_q(paths.data_dir + '/replay')}",
        "",
        "[storage]",
        f"  boltdb = {_q(paths.data_dir + '/kapacitor.db')}",
        "",
        "[reporting]",
        "  enabled = false",
        "",
        "[stats]",
        "  enabled = false",
        "",
        "[[influxdb]]",
        "  enabled = true",
        '  name = "default"',
        "  default = true",
        f"  urls = [{_q(influx_url)}]",
        f"  username = {_q(READER)}",
        f"  password = {_q(reader_password)}",
        *([f"  ssl-ca = {_q(ca_file)}"] if ca_file else []),
        '  timeout = "10s"',
        "  disable-subscriptions = true",
        '  startup-timeout = "5m"',
        "",
        "[[httppost]]",
        f"  endpoint = {_q(ENDPOINT)}",
        f"  url = {_q(relay_url)}",
        "  [httppost.basic-auth]",
        '    username = "kapacitor"',
        f"    password = {_q(relay_password)}",
        "",
        "[logging]",
        '  file = "STDERR"',
        '  level = "INFO"',
        "",
    ])


def _influxql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tick_string(value: str) -> str:
    """A TICKscript string literal (single-quoted)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _query(select: str, measurement: str, where: Iterable[str] = ()) -> str:
    clauses = list(where)
    text = (f'SELECT {select} AS value FROM "{DATABASE}"."{RETENTION_POLICY}"."{measurement}"'
            + (f" WHERE {' AND '.join(clauses)}" if clauses else ""))
    return _tick_string(text)


def _call(function: str, field: str) -> str:
    return f'{function}("{field}")'


UNIT_FILTER = '"name" =~ /^mammatus-/'


def _tags(names: Iterable[str]) -> str:
    return ", ".join(_tick_string(n) for n in names)


def _alert_id(rule: str, tags: Iterable[str]) -> str:
    return _tick_string(rule + ":" + "/".join(f'{{{{ index .Tags "{t}" }}}}' for t in tags))


def _post() -> list[str]:
    return ["        .stateChangesOnly()", f"        .post().endpoint('{ENDPOINT}')"]


def threshold_tick(name: str, measurement: str, field: str, crit: float,
                   warn: Optional[float] = None, below: bool = False,
                   by: Iterable[str] = (), where: Optional[dict[str, str]] = None) -> str:
    tags = ["host", *by]
    op = "<" if below else ">"
    where_clauses = [f'"{k}" = {_influxql_string(v)}' for k, v in sorted((where or {}).items())]
    series = " ".join(f'{t} {{{{ index .Tags "{t}" }}}}' for t in by)
    message = (f"{name}: {measurement}.{field} {{{{ index .Fields \"value\" | printf \"%0.1f\" }}}}"
               f" on {{{{ index .Tags \"host\" }}}}{(' ' + series) if series else ''}"
               f" ({op} {crit:g} is critical)")
    return "\n".join([
        f"// {name}: {measurement}.{field} {op} {crit:g} is critical"
        + (f", {op} {warn:g} a warning" if warn is not None else "") + ". Rendered by Mammatus.",
        f'dbrp "{DATABASE}"."{RETENTION_POLICY}"',
        "",
        "batch",
        f"    |query({_query(_call('mean', field), measurement, where_clauses)})",
        f"        .period({PERIOD})",
        f"        .every({EVERY})",
        f"        .groupBy({_tags(tags)})",
        "    |alert()",
        f"        .id({_alert_id(name, tags)})",
        f"        .message({_tick_string(message)})",
        *([f'        .warn(lambda: "value" {op} {warn:g})'] if warn is not None else []),
        f'        .crit(lambda: "value" {op} {crit:g})',
        *_post(),
        "",
    ])


def service_down_tick() -> str:
    """A Mammatus unit that is not active (Telegraf's systemd_units: active_code 0 = active)."""
    tags = ["host", "name"]
    return "\n".join([
        "// service_down: a Mammatus systemd unit that is not active. Rendered by Mammatus.",
        f'dbrp "{DATABASE}"."{RETENTION_POLICY}"',
        "",
        "batch",
        f"    |query({_query(_call('last', 'active_code'), 'systemd_units', [UNIT_FILTER])})",
        f"        .period({PERIOD})",
        f"        .every({EVERY})",
        f"        .groupBy({_tags(tags)})",
        "    |alert()",
        f"        .id({_alert_id('service_down', tags)})",
        "        .message('service_down: {{ index .Tags \"name\" }} on {{ index .Tags \"host\" }} "
        "is {{ if eq .Level \"OK\" }}active again{{ else }}not active{{ end }}')",
        '        .crit(lambda: "value" != 0)',
        *_post(),
        "",
    ])


def host_down_tick(after: str) -> str:
    """A host whose Telegraf sent no `system` point for `after` (a deadman switch)."""
    return "\n".join([
        f"// host_down: a host sent no metrics for {after}. Rendered by Mammatus.",
        f'dbrp "{DATABASE}"."{RETENTION_POLICY}"',
        "",
        "batch",
        f"    |query({_query(_call('last', 'uptime'), 'system')})",
        f"        .period({PERIOD})",
        f"        .every({EVERY})",
        "        .groupBy('host')",
        f"    |deadman(0.0, {after})",
        "        .id('host_down:{{ index .Tags \"host\" }}')",
        "        .message('host_down: {{ index .Tags \"host\" }} is "
        "{{ if eq .Level \"OK\" }}reporting again{{ else }}not reporting{{ end }}')",
        *_post(),
        "",
    ])


def alert_tasks(paths: KapacitorPaths, thresholds: Iterable, service_down: bool = True,
                host_down_after: Optional[str] = "1m") -> dict[str, str]:
    """path -> TICKscript; Kapacitor loads `<load dir>/tasks/<name>.tick` as task <name>.
    `thresholds`: the spec's Threshold models (name, measurement, field, crit, warn, below, by,
    where)."""
    tasks = {f"{paths.load_dir}/tasks/{t.name}.tick": threshold_tick(
        t.name, t.measurement, t.field, t.crit, t.warn, t.below, t.by, t.where)
        for t in thresholds}
    if service_down:
        tasks[f"{paths.load_dir}/tasks/service_down.tick"] = service_down_tick()
    if host_down_after:
        tasks[f"{paths.load_dir}/tasks/host_down.tick"] = host_down_tick(host_down_after)
    return tasks
