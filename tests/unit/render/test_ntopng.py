"""Monitoring renderers: Telegraf and Kapacitor TOML through tomllib, Grafana YAML/JSON, ntopng
and the TICKscripts structurally (those tools are not in Debian; InfluxDB's config is loaded by
the real influxd in tests/integration/render/test_influx.py)."""

import ipaddress

from components.render import ntopng


def test_ntopng_watches_the_lan_port_with_local_networks():
    text = ntopng.ntopng_config(ntopng.NtopngPaths(), ["eth1"], [ipaddress.IPv4Network("10.0.0.0/24")])
    lines = text.splitlines()
    assert "-i=eth1" in lines and "-m=10.0.0.0/24" in lines and "-w=3001" in lines
    assert all(line.startswith(("#", "-")) for line in lines if line)
