"""Grafana dashboards as code, for a user's own Grafana (Grafana itself is AGPL and not part of
Mammatus). Each dashboard is the JSON that Grafana's Dashboards → Import takes: an `__inputs`
entry asks for the InfluxDB datasource (`DS_INFLUXDB`), and every panel and variable names it
as `${DS_INFLUXDB}`. The queries are raw InfluxQL over what Telegraf writes
(components/render/telegraf.py) to the `telegraf` database, retention policy `mammatus`
(components/render/influx.py).

  hosts            CPU, memory, disk, disk I/O, network, load, processes: per host
  services         the `mammatus-*` systemd units' states, per host
  gateway-traffic  the seed design's ntopng role, done with what runs here: interface
                   throughput, errors and drops, conntrack, the kernel's IP/TCP/UDP counters

Pure. `python -m components.render.grafana --write dashboards/` writes the committed files;
tests check those against this render, every query's measurements and fields against what
Telegraf emits (and against the real InfluxDB), and every dashboard against Grafana's published
schema (@grafana/schema, with tsc: tests/integration/render/test_grafana_schema.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Optional, Sequence

from components.render.influx import RETENTION_POLICY
from components.render.telegraf import UNIT_PATTERN
from stacks.spec import Gateway

# The @grafana/schema release the dashboards are checked against (tools/grafana-schema) and the
# dashboard schemaVersion that release's defaults carry: Grafana migrates nothing on import.
GRAFANA_VERSION = "13.2.3"
SCHEMA_VERSION = 42
DS_INPUT = "DS_INFLUXDB"
DATASOURCE = {"type": "influxdb", "uid": "${" + DS_INPUT + "}"}
# Telegraf's interval (telegraf_config's default): no panel asks for finer buckets than that.
MIN_INTERVAL = "10s"
# What a host variable matches in a query (Grafana makes a multi-value one `(a|b)`).
HOST = '"host" =~ /^$host$/'
# The gateway's ports as the stack spec names them by default (the dev stack: wan0, lan0).
WAN_DEFAULT = Gateway.model_fields["wan_interface"].default
LAN_DEFAULT = Gateway.model_fields["lan_interface"].default
# systemd_units reports the units Telegraf's pattern matches (`mammatus-*`).
UNITS = "/^" + UNIT_PATTERN.rstrip("*") + "/"
# systemd's active states, as Telegraf's systemd_units codes them (active_code).
ACTIVE_STATES = [("active", "green"), ("reloading", "blue"), ("inactive", "text"),
                 ("failed", "red"), ("activating", "yellow"), ("deactivating", "orange")]

PANEL_NAMES = {"timeseries": "Time series", "stat": "Stat", "state-timeline": "State timeline",
               "table": "Table", "text": "Text"}


def _from(measurement: str) -> str:
    return f'"{RETENTION_POLICY}"."{measurement}"'


def _select(columns: Sequence[str], measurement: str, where: Sequence[str] = (),
            group_by: Sequence[str] = ("host",), buckets: bool = True) -> str:
    """SELECT columns FROM rp.measurement WHERE host, where…, time GROUP BY time, tags."""
    conditions = " AND ".join([HOST, *where, "$timeFilter"])
    groups = [*(["time($__interval)"] if buckets else []), *(f'"{t}"' for t in group_by)]
    return (f"SELECT {', '.join(columns)} FROM {_from(measurement)} WHERE {conditions}"
            + (f" GROUP BY {', '.join(groups)}" if groups else ""))


def _mean(field: str, alias: Optional[str] = None) -> str:
    return f'mean("{field}")' + (f' AS "{alias}"' if alias else "")


def _rate(field: str, alias: Optional[str] = None, scale: int = 1) -> str:
    """Per second, from a counter (Telegraf's net, diskio and nstat fields count up)."""
    expr = f'non_negative_derivative(mean("{field}"), 1s)' + (f" * {scale}" if scale != 1 else "")
    return expr + (f' AS "{alias}"' if alias else "")


def _target(query: str, alias: str = "", ref: str = "A", fmt: str = "time_series") -> dict:
    target = {"refId": ref, "datasource": DATASOURCE, "query": query, "rawQuery": True,
              "resultFormat": fmt}
    if alias:
        target["alias"] = alias
    return target


def _thresholds(*steps: tuple[Optional[float], str]) -> dict:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def _panel(kind: str, title: str, targets: list[dict], description: str, options: dict,
           defaults: dict, w: int, h: int, overrides: Optional[list] = None) -> dict:
    queried = {"datasource": DATASOURCE, "interval": MIN_INTERVAL} if targets else {}
    return {"type": kind, "title": title, "description": description, **queried,
            "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options, **({"targets": targets} if targets else {})}


_LEGEND = {"calcs": ["lastNotNull", "max"], "displayMode": "table", "placement": "bottom",
           "showLegend": True}
_TOOLTIP = {"mode": "multi", "sort": "desc"}


def _timeseries(title: str, targets: list[dict], unit: str, description: str,
                w: int = 12, h: int = 8, max_: Optional[float] = None) -> dict:
    defaults = {"unit": unit, "min": 0, **({"max": max_} if max_ is not None else {}),
                "color": {"mode": "palette-classic"},
                "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                           "showPoints": "never", "spanNulls": False}}
    return _panel("timeseries", title, targets, description,
                  {"legend": _LEGEND, "tooltip": _TOOLTIP}, defaults, w, h)


def _stat(title: str, targets: list[dict], unit: str, description: str, thresholds: dict,
          w: int, h: int = 4, no_value: Optional[str] = None, text_mode: str = "auto") -> dict:
    defaults = {"unit": unit, "color": {"mode": "thresholds"}, "thresholds": thresholds,
                **({"noValue": no_value} if no_value is not None else {})}
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "orientation": "auto", "textMode": text_mode, "colorMode": "value",
               "graphMode": "none", "justifyMode": "auto", "percentChangeColorMode": "standard",
               "showPercentChange": False, "wideLayout": True}
    return _panel("stat", title, targets, description, options, defaults, w, h)


def _layout(panels: list[dict]) -> list[dict]:
    """Ids in order, and each panel placed left to right in rows of Grafana's 24 columns."""
    x = y = row_h = 0
    for n, panel in enumerate(panels, start=1):
        pos = panel["gridPos"]
        if x + pos["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        pos["x"], pos["y"] = x, y
        x, row_h = x + pos["w"], max(row_h, pos["h"])
        panel["id"] = n
    return panels


def _query_variable(name: str, label: str, query: str, description: str,
                    multi: bool = True) -> dict:
    """Refreshed with the time range; a multi-value one starts at All, a single one at the
    first value."""
    return {"name": name, "label": label, "description": description, "type": "query",
            "datasource": DATASOURCE, "query": query, "refresh": 2, "sort": 1,
            "multi": multi, "includeAll": multi,
            **({"current": {"text": ["All"], "value": ["$__all"]}} if multi else {}),
            "options": [], "hide": 0}


def _textbox(name: str, label: str, value: str, description: str) -> dict:
    return {"name": name, "label": label, "description": description, "type": "textbox",
            "query": value, "current": {"text": value, "value": value},
            "options": [{"selected": True, "text": value, "value": value}], "hide": 0}


def _hosts_variable(measurement: str, description: str, multi: bool = True) -> dict:
    return _query_variable("host", "Host",
                           f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "host"', description,
                           multi)


def _dashboard(uid: str, title: str, description: str, panels: list[dict],
               variables: list[dict]) -> dict:
    kinds = sorted({p["type"] for p in panels})
    return {
        "__inputs": [{"name": DS_INPUT, "label": "InfluxDB", "type": "datasource",
                      "pluginId": "influxdb", "pluginName": "InfluxDB",
                      "description": "The cloud's InfluxDB 1.x (database telegraf, InfluxQL)"}],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
            {"type": "datasource", "id": "influxdb", "name": "InfluxDB", "version": "1.0.0"},
            *({"type": "panel", "id": k, "name": PANEL_NAMES[k], "version": ""} for k in kinds)],
        "id": None, "uid": uid, "title": title, "description": description,
        "tags": ["mammatus"], "editable": True, "graphTooltip": 1, "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION, "version": 1,
        "links": [{"type": "dashboards", "tags": ["mammatus"], "title": "Mammatus",
                   "asDropdown": True, "icon": "external link", "includeVars": False,
                   "keepTime": True, "targetBlank": False, "tooltip": ""}],
        "templating": {"list": variables},
        "panels": _layout(panels),
    }


def hosts() -> dict:
    panels = [
        _stat("Uptime", [_target(_select(['last("uptime")'], "system", buckets=False), "$tag_host")],
              "s", "Since each host's last boot (Telegraf's system input).",
              _thresholds((None, "green")), w=24, text_mode="value_and_name"),
        _timeseries("CPU busy", [_target(_select([_mean("usage_active")], "cpu",
                                                 ["\"cpu\" = 'cpu-total'"]), "$tag_host")],
                    "percent", "All CPUs of a host: 100 % less idle.", max_=100),
        _timeseries("Memory used", [_target(_select([_mean("used_percent")], "mem"), "$tag_host")],
                    "percent", "Used memory, of the total (buffers and page cache not counted).",
                    max_=100),
        _timeseries("Disk used", [_target(_select(['last("used_percent")'], "disk",
                                                  group_by=("host", "path")), "$tag_host $tag_path")],
                    "percent", "Each mounted filesystem (tmpfs, overlay and squashfs left out).",
                    max_=100),
        _timeseries("Disk I/O", [_target(_select([_rate("read_bytes", "read"),
                                                  _rate("write_bytes", "write")], "diskio",
                                                 group_by=("host", "name")),
                                         "$tag_host $tag_name $col")],
                    "Bps", "Bytes read and written per second, per block device."),
        _timeseries("Network", [_target(_select([_rate("bytes_recv", "in", 8),
                                                 _rate("bytes_sent", "out", 8)], "net",
                                                group_by=("host", "interface")),
                                        "$tag_host $tag_interface $col")],
                    "bps", "Bits per second in and out, per interface."),
        _timeseries("Load", [_target(_select([_mean("load1", "1m"), _mean("load5", "5m"),
                                              _mean("load15", "15m")], "system"),
                                     "$tag_host $col")],
                    "short", "The kernel's load averages."),
        _timeseries("Processes", [_target(_select([_mean("running", "running"),
                                                   _mean("blocked", "blocked"),
                                                   _mean("zombies", "zombies"),
                                                   _mean("total", "total")], "processes"),
                                          "$tag_host $col")],
                    "short", "Running, blocked (on I/O), zombie and all processes."),
        _timeseries("Telegraf: buffered and dropped metrics",
                    [_target(_select([_mean("buffer_size", "buffered"),
                                      'non_negative_difference(max("metrics_dropped")) AS "dropped"'],
                                     "internal_write", ["\"output\" = 'influxdb'"]),
                             "$tag_host $col")],
                    "short", "Metrics each host's Telegraf holds for InfluxDB, and drops when "
                    "its buffer is full: a gap in the other panels with none dropped is late, "
                    "not lost."),
    ]
    return _dashboard("mammatus-hosts", "Mammatus hosts",
                      "Every host's Telegraf: CPU, memory, disks, network, load, processes.",
                      panels, [_hosts_variable("system", "Hosts that report to InfluxDB.")])


def services() -> dict:
    units = ['"name" =~ ' + UNITS]
    last_state = _select(['last("active_code") AS "state"'], "systemd_units", units,
                         group_by=("host", "name"), buckets=False)
    mappings = [{"type": "value", "options": {
        str(code): {"text": text, "color": color, "index": code}
        for code, (text, color) in enumerate(ACTIVE_STATES)}}]
    state = {"color": {"mode": "thresholds"}, "thresholds": _thresholds((None, "green")),
             "mappings": mappings}
    panels = [
        _stat("Units failed", [_target(f'SELECT count("state") FROM ({last_state}) WHERE "state" = 3')],
              "short", "Units whose last report in the time range is `failed`.",
              _thresholds((None, "green"), (1, "red")), w=8, no_value="0"),
        _stat("Units not active", [_target(f'SELECT count("state") FROM ({last_state}) '
                                           'WHERE "state" <> 0')],
              "short", "Units whose last report is anything but `active` (failed, inactive, "
              "starting, stopping).", _thresholds((None, "green"), (1, "orange")), w=8,
              no_value="0"),
        _stat("Units reporting", [_target(f'SELECT count("state") FROM ({last_state})')],
              "short", "`mammatus-*` units that Telegraf's systemd_units input reported.",
              _thresholds((None, "blue")), w=8, no_value="0"),
        _panel("state-timeline", "Unit states",
               [_target(_select(['last("active_code")'], "systemd_units", units,
                                group_by=("host", "name")), "$tag_host $tag_name")],
               "Each `mammatus-*` unit's systemd active state over time (a gap: no report).",
               {"rowHeight": 0.9, "showValue": "auto", "mergeValues": True, "alignValue": "left",
                "legend": {"calcs": [], "displayMode": "list", "placement": "bottom",
                           "showLegend": True},
                "tooltip": {"mode": "single", "sort": "none"}},
               {**state, "custom": {"fillOpacity": 80, "lineWidth": 0}}, w=24, h=12),
        _panel("table", "Units now", [_target(last_state, fmt="table")],
               "Each unit's last report in the time range, with its time.",
               {"showHeader": True, "frameIndex": 0, "cellHeight": "sm",
                "sortBy": [{"displayName": "state", "desc": True}]},
               {**state, "mappings": [],
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}},
               w=24, h=10,
               overrides=[{"matcher": {"id": "byName", "options": "state"}, "properties": [
                   {"id": "mappings", "value": mappings},
                   {"id": "custom.cellOptions", "value": {"type": "color-background"}}]}]),
    ]
    return _dashboard("mammatus-services", "Mammatus services",
                      "The state of every mammatus-* systemd unit, per host (Telegraf's "
                      "systemd_units input).",
                      panels, [_hosts_variable("systemd_units", "Hosts that report units.")])


NTOPNG = """\
**What this shows**: the gateway's own counters, from Telegraf: its WAN and LAN interfaces \
(`net`), its connection-tracking table (`conntrack`) and the kernel's IP, TCP and UDP counters \
(`nstat`). These are totals. TCP and UDP count the gateway's own sockets (DNS, DHCP, TFTP, SSH); \
traffic it routes shows as *forwarded*. Set **WAN** and **LAN** above to the stack's \
`gateway.wanInterface` and `lanInterface` (defaults `{wan}` and `{lan}`; the dev stack: `wan0`, \
`lan0`).

**What ntopng would add** (the seed design's traffic analysis; it is not deployed): per-host and \
per-flow views, top talkers, and application-protocol breakdowns by deep packet inspection \
(nDPI), none of which these counters can give."""


def gateway_traffic() -> dict:
    def port(var: str) -> str:
        return f"\"interface\" = '${var}'"

    ports = f"({port('wan')} OR {port('lan')})"
    snmp = ["\"name\" = 'snmp'"]

    def throughput(var: str, label: str) -> dict:
        return _timeseries(f"{label} throughput", [_target(_select(
            [_rate("bytes_recv", "in", 8), _rate("bytes_sent", "out", 8)], "net", [port(var)],
            group_by=()), "$col")], "bps", f"Bits per second in and out of the {label} port (${var}).")

    panels = [
        _panel("text", "About this dashboard", [], "What runs here, and what ntopng would add.",
               {"mode": "markdown", "content": NTOPNG.format(wan=WAN_DEFAULT, lan=LAN_DEFAULT)},
               {}, w=24, h=6),
        throughput("wan", "WAN"),
        throughput("lan", "LAN"),
        _timeseries("Packets", [_target(_select(
            [_rate("packets_recv", "in"), _rate("packets_sent", "out")], "net", [ports],
            group_by=("interface",)), "$tag_interface $col")],
            "pps", "Packets per second in and out, WAN and LAN."),
        _timeseries("Errors and drops", [_target(_select(
            [_rate("err_in", "errors in"), _rate("err_out", "errors out"),
             _rate("drop_in", "dropped in"), _rate("drop_out", "dropped out")], "net", [ports],
            group_by=("interface",)), "$tag_interface $col")],
            "pps", "Receive and transmit errors and drops per second, WAN and LAN."),
        _timeseries("Conntrack entries", [_target(_select(
            [_mean("ip_conntrack_count", "entries"), _mean("ip_conntrack_max", "max")],
            "conntrack", group_by=()), "$col")],
            "short", "Connections the gateway tracks (NAT and firewall state), against the "
            "table's size: at the max, new connections are dropped.", w=16),
        _stat("Conntrack table used", [_target(_select(
            ['last("ip_conntrack_count") / last("ip_conntrack_max") * 100'], "conntrack",
            group_by=(), buckets=False))],
            "percent", "The last count against the max.",
            _thresholds((None, "green"), (70, "orange"), (90, "red")), w=8, h=8),
        _timeseries("Forwarded and discarded packets", [_target(_select(
            [_rate("IpForwDatagrams", "forwarded"), _rate("IpInDiscards", "discarded in"),
             _rate("IpOutDiscards", "discarded out"), _rate("IpOutNoRoutes", "no route")],
            "nstat", snmp, group_by=()), "$col")],
            "pps", "IP datagrams per second the gateway routed, and those the kernel dropped."),
        _timeseries("TCP segments", [_target(_select(
            [_rate("TcpInSegs", "in"), _rate("TcpOutSegs", "out"),
             _rate("TcpRetransSegs", "retransmitted"), _rate("TcpInErrs", "errors in"),
             _rate("TcpOutRsts", "resets sent")], "nstat", snmp, group_by=()), "$col")],
            "pps", "Segments per second of the gateway's own TCP (not what it forwards)."),
        _timeseries("TCP connections", [_target(_select(
            [_mean("TcpCurrEstab", "established"), _rate("TcpActiveOpens", "opened out /s"),
             _rate("TcpPassiveOpens", "accepted /s"), _rate("TcpAttemptFails", "failed /s"),
             _rate("TcpEstabResets", "reset /s")], "nstat", snmp, group_by=()), "$col")],
            "short", "The gateway's own TCP connections: established now, and per second "
            "opened, accepted, failed and reset."),
        _timeseries("UDP datagrams", [_target(_select(
            [_rate("UdpInDatagrams", "in"), _rate("UdpOutDatagrams", "out"),
             _rate("UdpNoPorts", "to no port"), _rate("UdpInErrors", "errors in"),
             _rate("UdpRcvbufErrors", "receive buffer full")], "nstat", snmp, group_by=()),
            "$col")],
            "pps", "Datagrams per second of the gateway's own UDP (DNS, DHCP, TFTP)."),
    ]
    return _dashboard(
        "mammatus-gateway-traffic", "Mammatus gateway traffic",
        "The gateway's interfaces, conntrack and kernel counters. ntopng's per-flow, "
        "top-talker and application-protocol (DPI) views are not here: it is not deployed.",
        panels,
        [_hosts_variable("conntrack", "The gateway: a host that reports conntrack.", multi=False),
         _textbox("wan", "WAN", WAN_DEFAULT, "The gateway's WAN port (gateway.wanInterface)."),
         _textbox("lan", "LAN", LAN_DEFAULT, "The gateway's LAN port (gateway.lanInterface).")])


DASHBOARDS: dict[str, Callable[[], dict]] = {
    "hosts": hosts, "services": services, "gateway-traffic": gateway_traffic}


def render(name: str) -> str:
    """The dashboard's JSON as committed in dashboards/<name>.json."""
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DASHBOARDS:
        path = folder / f"{name}.json"
        path.write_text(render(name))
        written.append(path)
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m components.render.grafana",
                                     description="Write the Grafana dashboards as JSON files.")
    parser.add_argument("--write", metavar="FOLDER", type=Path, required=True,
                        help="where to write <name>.json (the committed ones: dashboards/)")
    for path in write(parser.parse_args(argv).write):
        print(path)


if __name__ == "__main__":
    main()
