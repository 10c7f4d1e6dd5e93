"""Kapacitor: its config (TOML, pointing at InfluxDB) and the alert rules as TICKscripts.

Rules: CPU busy > 90 %, disk used > 90 %, memory used > 90 % (warn at 80 %) and a deadman
alert when a host stops reporting (host down). Alerts are logged to a file and posted to an
HTTP endpoint when one is given. Pure functions; the TICKscripts are built into stream pipelines
by Kapacitor's own code in tests (tools/ticklint, Kapacitor v1.7.6 from its Go module; Kapacitor
is not packaged in Debian bookworm), the config is parsed with tomllib.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from components.render.influx import DATABASE, RETENTION_POLICY
from components.render.paths import HostPaths

PORT = 9092


@dataclass(frozen=True)
class KapacitorPaths(HostPaths):
    config: str = "/etc/mammatus/kapacitor/kapacitor.conf"
    # Kapacitor's [load] dir; TICKscripts go in its tasks/ sub-directory.
    load_dir: str = "/etc/mammatus/kapacitor/load"
    data_dir: str = "/var/lib/mammatus/kapacitor"
    alerts_log: str = "/var/log/mammatus/kapacitor-alerts.log"


@dataclass(frozen=True)
class Threshold:
    name: str
    measurement: str
    field: str
    crit: float
    warn: float
    message: str
    # "above": value > limit alerts; the cpu rule uses usage_idle (busy = 100 - idle).
    busy_from_idle: bool = False


RULES = (
    Threshold("cpu_high", "cpu", "usage_idle", 90, 80, "CPU busy {{ index .Fields \"value\" }}% on {{ index .Tags \"host\" }}", busy_from_idle=True),
    Threshold("disk_high", "disk", "used_percent", 90, 80, "disk {{ index .Tags \"path\" }} {{ index .Fields \"value\" }}% used on {{ index .Tags \"host\" }}"),
    Threshold("mem_high", "mem", "used_percent", 90, 80, "memory {{ index .Fields \"value\" }}% used on {{ index .Tags \"host\" }}"),
)


def _q(value: str) -> str:
    return json.dumps(value)


def kapacitor_config(paths: KapacitorPaths, influx_url: str, hostname: str,
                     bind: str = f":{PORT}") -> str:
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
        "[[influxdb]]",
        "  enabled = true",
        '  name = "default"',
        "  default = true",
        f"  urls = [{_q(influx_url)}]",
        '  timeout = "0s"',
        "",
        "[logging]",
        '  file = "STDERR"',
        '  level = "INFO"',
        "",
    ])


def _alert_tail(rule_id: str, paths: KapacitorPaths, post_url: Optional[str]) -> list[str]:
    lines = [f"        .id('{rule_id}:{{{{ index .Tags \"host\" }}}}')",
             f"        .log('{paths.alerts_log}')"]
    if post_url:
        lines.append(f"        .post('{post_url}')")
    return lines


def threshold_tick(rule: Threshold, paths: KapacitorPaths, post_url: Optional[str] = None) -> str:
    value = "100.0 - \"usage_idle\"" if rule.busy_from_idle else f"\"{rule.field}\""
    where = "|where(lambda: \"cpu\" == 'cpu-total')\n    " if rule.measurement == "cpu" else ""
    group = "'host', 'path'" if rule.measurement == "disk" else "'host'"
    return "\n".join([
        f"// {rule.name}: {rule.measurement} above {rule.crit:g} % (warn {rule.warn:g} %). Rendered by Mammatus.",
        f"dbrp \"{DATABASE}\".\"{RETENTION_POLICY}\"",
        "",
        "stream",
        "    |from()",
        f"        .measurement('{rule.measurement}')",
        f"        .groupBy({group})",
        f"    {where}|eval(lambda: {value})",
        "        .as('value')",
        "    |alert()",
        f"        .message('{rule.message}')",
        f"        .warn(lambda: \"value\" > {rule.warn:g})",
        f"        .crit(lambda: \"value\" > {rule.crit:g})",
        *_alert_tail(rule.name, paths, post_url),
        "",
    ])


def deadman_tick(paths: KapacitorPaths, interval: str = "1m", post_url: Optional[str] = None) -> str:
    """Host down: no `system` point from a host for `interval`."""
    return "\n".join([
        f"// host_down: a host sent no metrics for {interval}. Rendered by Mammatus.",
        f"dbrp \"{DATABASE}\".\"{RETENTION_POLICY}\"",
        "",
        "stream",
        "    |from()",
        "        .measurement('system')",
        "        .groupBy('host')",
        f"    |deadman(0.0, {interval})",
        "        .message('host {{ index .Tags \"host\" }} is {{ if eq .Level \"OK\" }}up{{ else }}down{{ end }}')",
        *_alert_tail("host_down", paths, post_url),
        "",
    ])


def alert_tasks(paths: KapacitorPaths, post_url: Optional[str] = None) -> dict[str, str]:
    """path -> TICKscript; Kapacitor loads `<load dir>/tasks/<name>.tick` as task <name>."""
    tasks = {f"{paths.load_dir}/tasks/{r.name}.tick": threshold_tick(r, paths, post_url)
             for r in RULES}
    tasks[f"{paths.load_dir}/tasks/host_down.tick"] = deadman_tick(paths, post_url=post_url)
    return tasks
