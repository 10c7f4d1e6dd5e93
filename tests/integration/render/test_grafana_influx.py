"""Every Grafana dashboard's queries against Debian's real InfluxDB 1.x, set up as Mammatus sets
it up, holding the real Telegraf's points: the gateway's rendered config gathered once
(`telegraf --test`), written as two hosts at four times ten seconds apart. Grafana's macros are
put in as Grafana would ($timeFilter, $__interval, a variable's values), the queries run as the
read-only `kapacitor` user, and each must answer with a series. systemd_units needs systemd as
PID 1, which this machine lacks: its points are written as Telegraf's systemd_units input shapes
them (plugins/inputs/systemd_units/README.md)."""

import re
import subprocess
import time

import pytest

from components.render import grafana, influx, telegraf
from dynamic_providers.influxdb import http, parse_results, query_request
from tests.support.influxdb import PASSWORDS, start_influxd, stop_influxd
from tests.support.paths import built_tool

pytestmark = pytest.mark.integration

HOSTS = ("gateway", "control")
STEP_NS = 10 * 10**9
# name, host, active state and its code, sub state and its code, per time (the last one last).
UNITS = [("mammatus-dnsmasq.service", "gateway", [("active", 0, "running", 0)] * 4),
         ("mammatus-nats.service", "control", [("active", 0, "running", 0)] * 4),
         ("mammatus-sns.service", "control", [("active", 0, "running", 0)] * 2
          + [("failed", 3, "failed", 12)] * 2)]


def telegraf_lines(tmp_path) -> list[str]:
    """One gathering of the gateway's inputs, as line protocol. dump_zeros on, so that nstat's
    counters that are zero on this machine are there too (off, Telegraf leaves them out until
    they count); unsigned fields as integers, as Telegraf's influxdb output writes them
    (influx_uint_support is off)."""
    config = telegraf.telegraf_config("http://127.0.0.1:9", hostname=HOSTS[0], units=None,
                                      tags={"roles": "gateway", "cloud": "test.mammatus"},
                                      gateway=True)
    assert config.count("dump_zeros = false") == 1
    conf = tmp_path / "telegraf.conf"
    conf.write_text(config.replace("dump_zeros = false", "dump_zeros = true"))
    result = subprocess.run([built_tool("telegraf"), "--config", str(conf), "--test"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line[2:] for line in result.stdout.splitlines() if line.startswith("> ")]
    return [re.sub(r"=(\d+)u(?=[, ]|$)", r"=\1i", line) for line in lines]


def points(lines: list[str], now_ns: int) -> str:
    """The gateway's lines for both hosts (conntrack and nstat for the gateway alone), its first
    interface also as the gateway's default WAN and LAN ports, and the units: four times."""
    net = next(line for line in lines if line.startswith("net,"))
    ports = [re.sub(r",interface=[^,]+", f",interface={port}", net)
             for port in (grafana.WAN_DEFAULT, grafana.LAN_DEFAULT)]
    out = []
    for n in range(4):
        ts = now_ns - (4 - n) * STEP_NS
        for line in lines + ports:
            for host in HOSTS:
                if host != HOSTS[0] and line.split(",", 1)[0] in telegraf.GATEWAY_INPUTS:
                    continue
                body = line.replace(f",host={HOSTS[0]},", f",host={host},")
                out.append(re.sub(r" \d+$", f" {ts}", body))
        for name, host, states in UNITS:
            active, active_code, sub, sub_code = states[n]
            out.append(f"systemd_units,active={active},host={host},load=loaded,name={name},"
                       f"sub={sub} active_code={active_code}i,load_code=0i,sub_code={sub_code}i {ts}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("grafana-influx")
    server = start_influxd(tmp_path)
    try:
        server.set_up()
        body = points(telegraf_lines(tmp_path), time.time_ns())
        assert server.write("telegraf", PASSWORDS["telegraf"], body) == 204
        yield server
    finally:
        stop_influxd(server)


def run(server, q: str) -> list[dict]:
    """As Grafana's datasource asks: the database as a parameter, as the read-only user."""
    request = query_request(server.url, q, ("kapacitor", PASSWORDS["kapacitor"]))
    request["form"]["db"] = influx.DATABASE
    [result] = parse_results(*http(request, server.ca_pem))
    return result.get("series", [])


def macros(dashboard: dict) -> dict[str, str]:
    """What Grafana puts in for its macros and the dashboard's variables: a multi-value host
    variable on All becomes a regex alternation of every host, a single one the first."""
    out = {"$timeFilter": "time > now() - 1h", "$__interval": grafana.MIN_INTERVAL}
    for v in dashboard["templating"]["list"]:
        if v["name"] == "host":
            out["$host"] = f"({'|'.join(HOSTS)})" if v["multi"] else HOSTS[0]
        else:
            out[f"${v['name']}"] = v["current"]["value"]
    return out


def substitute(query: str, values: dict[str, str]) -> str:
    for macro in sorted(values, key=len, reverse=True):
        query = query.replace(macro, values[macro])
    assert not re.search(r"\$[\w{]", query), query
    return query


CASES = [(name, p["title"], t["refId"]) for name in grafana.DASHBOARDS
         for p in grafana.DASHBOARDS[name]()["panels"] for t in p.get("targets", [])]


def _target(name: str, title: str, ref: str) -> tuple[dict, dict]:
    dashboard = grafana.DASHBOARDS[name]()
    panel = next(p for p in dashboard["panels"] if p["title"] == title)
    return dashboard, next(t for t in panel["targets"] if t["refId"] == ref)


@pytest.mark.parametrize("name,title,ref", CASES, ids=[f"{n}: {t}" for n, t, _ in CASES])
def test_every_panel_query_answers_with_a_series(server, name, title, ref):
    dashboard, target = _target(name, title, ref)
    series = run(server, substitute(target["query"], macros(dashboard)))
    assert series, f"{title}: no series for {target['query']}"
    # Every column has a value somewhere: a field Telegraf does not emit would be all nulls.
    for s in series:
        for n, column in enumerate(s["columns"][1:], start=1):
            assert any(row[n] is not None for row in s["values"]), f"{title}: {column} null"


@pytest.mark.parametrize("name", list(grafana.DASHBOARDS))
def test_host_variable_lists_the_hosts_that_report(server, name):
    dashboard = grafana.DASHBOARDS[name]()
    [host] = [v for v in dashboard["templating"]["list"] if v["name"] == "host"]
    [series] = run(server, host["query"])
    expected = {HOSTS[0]} if name == "gateway-traffic" else set(HOSTS)
    assert {value for _, value in series["values"]} == expected


def _single(server, name: str, title: str):
    dashboard, target = _target(name, title, "A")
    [series] = run(server, substitute(target["query"], macros(dashboard)))
    [row] = series["values"]
    return row[1]


def test_unit_counts_take_each_units_last_state(server):
    assert _single(server, "services", "Units failed") == 1          # sns, failed at the end
    assert _single(server, "services", "Units not active") == 1
    assert _single(server, "services", "Units reporting") == len(UNITS)
    dashboard, target = _target("services", "Units now", "A")
    rows = run(server, substitute(target["query"], macros(dashboard)))
    assert {(s["tags"]["host"], s["tags"]["name"]): s["values"][0][1] for s in rows} == {
        (host, name): states[-1][1] for name, host, states in UNITS}


def test_conntrack_use_is_the_count_against_the_max(server):
    used = _single(server, "gateway-traffic", "Conntrack table used")
    [series] = run(server, 'SELECT last("ip_conntrack_count"), last("ip_conntrack_max") FROM '
                           f'"{influx.RETENTION_POLICY}"."conntrack" WHERE time > now() - 1h')
    _, count, limit = series["values"][0]
    assert limit > 0 and used == pytest.approx(count / limit * 100)
