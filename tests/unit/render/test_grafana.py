"""The Grafana dashboards (components/render/grafana.py): the committed dashboards/ are the
render; each is in Grafana's import format; every query reads measurements, fields and tags
that the rendered Telegraf config makes Telegraf emit. The schema check (tsc against
@grafana/schema) is tests/integration/render/test_grafana_schema.py; the queries run against
the real InfluxDB in tests/integration/render/test_grafana_influx.py."""

import inspect
import json
import re
import tomllib

import pytest

from components.render import grafana, influx, telegraf
from stacks.spec import Gateway
from tests.support.paths import ROOT

DASHBOARDS = ROOT / "dashboards"
NAMES = list(grafana.DASHBOARDS)


def _panels(name):
    return grafana.DASHBOARDS[name]()["panels"]


def _queries(name):
    return [t["query"] for p in _panels(name) for t in p.get("targets", [])]


@pytest.mark.parametrize("name", NAMES)
def test_committed_dashboard_is_the_render(name):
    assert (DASHBOARDS / f"{name}.json").read_text() == grafana.render(name), (
        f"dashboards/{name}.json is stale: python -m components.render.grafana --write dashboards/")


def test_dashboards_folder_holds_exactly_the_rendered_ones():
    assert sorted(p.name for p in DASHBOARDS.iterdir()) == sorted(f"{n}.json" for n in NAMES)


def test_write_writes_every_dashboard(tmp_path, capsys):
    grafana.main(["--write", str(tmp_path / "out")])
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == {
        f"{n}.json": grafana.render(n) for n in NAMES}
    assert capsys.readouterr().out.count(".json") == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_import_format_asks_for_the_influxdb_datasource(name):
    d = json.loads(grafana.render(name))
    assert d["__inputs"] == [{"name": "DS_INFLUXDB", "label": "InfluxDB", "type": "datasource",
                              "pluginId": "influxdb", "pluginName": "InfluxDB",
                              "description": d["__inputs"][0]["description"]}]
    ds = {"type": "influxdb", "uid": "${DS_INFLUXDB}"}
    queried = [p for p in d["panels"] if p["type"] != "text"]
    assert queried and all(p["datasource"] == ds for p in queried)
    assert all(t["datasource"] == ds and t["rawQuery"] is True for p in queried for t in p["targets"])
    assert all(v["datasource"] == ds for v in d["templating"]["list"] if v["type"] == "query")
    requires = {(r["type"], r["id"]) for r in d["__requires"]}
    assert requires == {("grafana", "grafana"), ("datasource", "influxdb"),
                        *(("panel", p["type"]) for p in d["panels"])}
    assert d["id"] is None and d["uid"] == f"mammatus-{name}" and d["tags"] == ["mammatus"]
    assert d["schemaVersion"] == grafana.SCHEMA_VERSION
    # Nothing names a datasource the importing Grafana does not have.
    assert "mammatus-influxdb" not in grafana.render(name)


@pytest.mark.parametrize("name", NAMES)
def test_a_host_variable_filters_every_query(name):
    host = [v for v in grafana.DASHBOARDS[name]()["templating"]["list"] if v["name"] == "host"]
    assert len(host) == 1 and host[0]["query"].startswith('SHOW TAG VALUES FROM "')
    assert all('"host" =~ /^$host$/' in q for q in _queries(name))
    assert all("$timeFilter" in q for q in _queries(name))


@pytest.mark.parametrize("name", NAMES)
def test_panels_tile_the_grid(name):
    panels = _panels(name)
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine


def test_gateway_dashboard_says_what_ntopng_would_add():
    d = grafana.gateway_traffic()
    text = next(p for p in d["panels"] if p["type"] == "text")["options"]["content"]
    for words in ("ntopng", "not deployed", "per-flow", "top talkers", "deep packet inspection"):
        assert words in text
    assert "ntopng" in d["description"] and "not deployed" in d["description"]


def test_the_gateway_ports_default_to_the_specs():
    variables = {v["name"]: v for v in grafana.gateway_traffic()["templating"]["list"]}
    assert variables["wan"]["query"] == Gateway.model_fields["wan_interface"].default == "eth0"
    assert variables["lan"]["query"] == Gateway.model_fields["lan_interface"].default == "eth1"
    assert variables["host"]["multi"] is False   # one gateway: its counters are not per host


def test_no_panel_asks_for_buckets_finer_than_telegrafs_interval():
    assert grafana.MIN_INTERVAL == inspect.signature(telegraf.telegraf_config).parameters["interval"].default
    assert all(p["interval"] == grafana.MIN_INTERVAL for n in NAMES for p in _panels(n) if "targets" in p)


def test_the_schema_pins_are_the_version_the_dashboards_name():
    package = json.loads((ROOT / "tools" / "grafana-schema" / "package.json").read_text())
    assert package["devDependencies"]["@grafana/schema"] == grafana.GRAFANA_VERSION
    lock = json.loads((ROOT / "tools" / "grafana-schema" / "package-lock.json").read_text())
    pinned = {k.removeprefix("node_modules/"): v for k, v in lock["packages"].items() if k}
    assert {k: v["version"] for k, v in pinned.items()} == package["devDependencies"]
    assert all(v["integrity"].startswith("sha512-") for v in pinned.values())
    assert all(v["license"] == "Apache-2.0" for v in pinned.values())


# --- What Telegraf emits ----------------------------------------------------------------------
# Per input of the rendered config: measurement -> (fields, tags), from Telegraf 1.37.2's plugins
# (plugins/inputs/<name>/README.md and source; tests/integration/render/test_grafana_influx.py
# runs the real one). Every point also carries `host` and the config's global tags.
CPU_FIELDS = {f"usage_{s}" for s in ("user", "system", "idle", "nice", "iowait", "irq", "softirq",
                                     "steal", "guest", "guest_nice")}
NET_FIELDS = {f"{k}_{d}" for k in ("bytes", "packets") for d in ("sent", "recv")} | {
    f"{k}_{d}" for k in ("err", "drop") for d in ("in", "out")} | {"speed"}
NSTAT_SNMP = {"IpForwDatagrams", "IpInDiscards", "IpOutDiscards", "IpOutNoRoutes", "IpInReceives",
              "IpInDelivers", "IpOutRequests", "TcpActiveOpens", "TcpPassiveOpens",
              "TcpAttemptFails", "TcpEstabResets", "TcpCurrEstab", "TcpInSegs", "TcpOutSegs",
              "TcpRetransSegs", "TcpInErrs", "TcpOutRsts", "UdpInDatagrams", "UdpNoPorts",
              "UdpInErrors", "UdpOutDatagrams", "UdpRcvbufErrors", "UdpSndbufErrors"}
SYSTEMD_ACTIVE_STATES = ["active", "reloading", "inactive", "failed", "activating", "deactivating"]


def emitted(config: str) -> dict[str, tuple[set, set]]:
    inputs = tomllib.loads(config)["inputs"]
    out = {
        "cpu": (CPU_FIELDS | ({"usage_active"} if inputs["cpu"][0].get("report_active") else set()),
                {"cpu"}),
        "mem": ({"total", "available", "used", "free", "used_percent", "available_percent"}, set()),
        "disk": ({"total", "free", "used", "used_percent", "inodes_total", "inodes_free",
                  "inodes_used"}, {"path", "device", "fstype", "mode"}),
        "diskio": ({"reads", "writes", "read_bytes", "write_bytes", "read_time", "write_time",
                    "io_time", "weighted_io_time", "iops_in_progress"}, {"name"}),
        "net": (NET_FIELDS, {"interface"}),
        "system": ({"load1", "load5", "load15", "n_cpus", "n_users", "uptime", "uptime_format"}, set()),
        "processes": ({"blocked", "running", "sleeping", "stopped", "total", "zombies", "dead",
                       "idle", "paging", "total_threads", "unknown"}, set()),
        "internal_write": ({"buffer_size", "buffer_limit", "metrics_added", "metrics_written",
                            "metrics_dropped", "metrics_filtered", "write_time_ns", "errors"},
                           {"output", "input", "version"}),
    }
    assert set(inputs) >= {"cpu", "mem", "disk", "diskio", "net", "system", "processes", "internal"}
    if "systemd_units" in inputs:
        assert inputs["systemd_units"][0]["details"] is False   # no restarts, pid, memory fields
        out["systemd_units"] = ({"load_code", "active_code", "sub_code"},
                                {"name", "load", "active", "sub"})
    if "conntrack" in inputs:
        # Telegraf names both files ip_* (plugins/inputs/conntrack: "ip_" + the name's tail).
        files = inputs["conntrack"][0]["files"]
        out["conntrack"] = ({"ip_" + f.split("_", 1)[1] for f in files}, set())
    if "nstat" in inputs:
        out["nstat"] = (NSTAT_SNMP, {"name"})
    return out


def _config(**kw):
    return telegraf.telegraf_config("https://10.0.0.2:8086", hostname="h", tags={"roles": "x"}, **kw)


def test_the_field_table_follows_the_rendered_config():
    assert set(emitted(_config(gateway=True))) >= {"conntrack", "nstat", "systemd_units"}
    assert emitted(_config(gateway=True))["conntrack"][0] == {"ip_conntrack_count", "ip_conntrack_max"}
    assert "conntrack" not in emitted(_config()) and "systemd_units" not in emitted(_config(units=None))


_FROM = re.compile(r'FROM "(?P<rp>[^"]+)"\."(?P<m>[^"]+)"')
_CALL = re.compile(r'\b[a-z_]+\("(?P<f>[^"]+)"\)')
_AS = re.compile(r' AS "([^"]+)"')
_TAG = re.compile(r'"(?P<t>[^"]+)" (?:=~|=|<>) [/\']')
_GROUP = re.compile(r'GROUP BY (?P<g>.*)$')


def _subquery(query: str) -> tuple[str, str]:
    """(outer, inner) of `SELECT … FROM (inner) …`; inner is "" when there is none."""
    start = query.find("FROM (")
    if start < 0:
        return query, ""
    depth, i = 0, start + 5
    for i in range(start + 5, len(query)):
        depth += {"(": 1, ")": -1}.get(query[i], 0)
        if depth == 0:
            break
    return query[:start + 5] + query[i + 1:], query[start + 6:i]


def names_in(query: str) -> tuple[set, set, set]:
    """(measurements, fields, tags) a query reads. An outer query over a subquery reads only
    the subquery's aliases (`"state" = 3` there compares a field, not a tag)."""
    outer, inner = _subquery(query)
    if inner:
        aliases = set(_AS.findall(inner))
        assert set(_CALL.findall(outer)) | set(_TAG.findall(outer)) <= aliases, query
        assert "GROUP BY" not in outer, query
        return names_in(inner)
    measurements = set()
    for m in _FROM.finditer(query):
        assert m["rp"] == influx.RETENTION_POLICY, query
        measurements.add(m["m"])
    tags = set(_TAG.findall(query))
    for g in _GROUP.finditer(query):
        tags |= {t.strip('"') for t in g["g"].split(", ") if t.startswith('"')}
    return measurements, set(_CALL.findall(query)), tags


@pytest.mark.parametrize("name", NAMES)
def test_every_query_reads_what_telegraf_emits(name):
    table = emitted(_config(gateway=True))
    global_tags = {"host", "roles", "cloud"}
    for query in _queries(name):
        measurements, fields, tags = names_in(query)
        assert len(measurements) == 1, query
        [m] = measurements
        assert m in table, f"{m}: no Telegraf input of ours emits it ({query})"
        known_fields, known_tags = table[m]
        assert fields and fields <= known_fields, (fields - known_fields, query)
        assert tags <= known_tags | global_tags, (tags - known_tags - global_tags, query)
    for v in grafana.DASHBOARDS[name]()["templating"]["list"]:
        if v["type"] == "query":
            m, key = re.fullmatch(r'SHOW TAG VALUES FROM "(\w+)" WITH KEY = "(\w+)"', v["query"]).groups()
            assert m in table and key in table[m][1] | global_tags


def test_gateway_only_measurements_are_where_only_gateways_report():
    gateway_only = set(telegraf.GATEWAY_INPUTS)
    for name in NAMES:
        used = {m for q in _queries(name) for m in names_in(q)[0]}
        if name != "gateway-traffic":
            assert not used & gateway_only, name
    host = next(v for v in grafana.gateway_traffic()["templating"]["list"] if v["name"] == "host")
    assert '"conntrack"' in host["query"]


def test_services_map_systemds_active_states_as_telegraf_codes_them():
    assert [s for s, _ in grafana.ACTIVE_STATES] == SYSTEMD_ACTIVE_STATES
    assert grafana.UNITS == "/^mammatus-/" and telegraf.UNIT_PATTERN == "mammatus-*"
    timeline = next(p for p in grafana.services()["panels"] if p["type"] == "state-timeline")
    options = timeline["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {int(k): v["text"] for k, v in options.items()} == dict(enumerate(SYSTEMD_ACTIVE_STATES))
    failed = next(p for p in grafana.services()["panels"] if p["title"] == "Units failed")
    assert failed["targets"][0]["query"].endswith(
        f'WHERE "state" = {SYSTEMD_ACTIVE_STATES.index("failed")}')
