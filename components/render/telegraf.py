"""Telegraf's config (TOML): what a host of a cloud should report, written to the monitoring
host's InfluxDB 1.x (`outputs.influxdb`, the `telegraf` user, which may only write; HTTPS
verified with the cloud's root). The same renderer serves the cloud's hosts and, through
vendor-data, instances (components/render/vendor_data.py).

Inputs: cpu, mem, disk, diskio, net, system, processes and Telegraf's own `internal`; on a
host, the state of the Mammatus systemd units (`systemd_units`: a stopped daemon is an alert);
on the gateway, its connection tracking table (`conntrack`) and the kernel's network counters
(`nstat`: forwarded packets, drops). Pure; loaded and run by the real Telegraf in tests
(tools/telegraf: a pinned build with just these plugins; Telegraf is not packaged in Debian
bookworm).
"""

from __future__ import annotations

import json
from typing import Mapping, Optional

from components.render.influx import DATABASE, RETENTION_POLICY, WRITER

INPUTS = ("cpu", "mem", "disk", "diskio", "net", "system", "processes", "internal")
GATEWAY_INPUTS = ("conntrack", "nstat")
UNIT_PATTERN = "mammatus-*"


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for our values


def telegraf_config(influx_url: str, hostname: Optional[str] = None,
                    tags: Optional[Mapping[str, str]] = None, interval: str = "10s",
                    password: str = "", ca_file: str = "", units: Optional[str] = UNIT_PATTERN,
                    gateway: bool = False) -> str:
    """`hostname` None: Telegraf uses the machine's own (what instances want). `units`: the
    systemd units to report (None: none)."""
    lines = ["# Telegraf for the Mammatus monitoring layer (rendered; do not edit).", ""]
    if tags:
        lines.append("[global_tags]")
        lines += [f"  {k} = {_toml_str(v)}" for k, v in sorted(tags.items())]
        lines.append("")
    lines += [
        "[agent]",
        f"  interval = {_toml_str(interval)}",
        "  round_interval = true",
        "  metric_batch_size = 1000",
        "  metric_buffer_limit = 10000",
        f"  flush_interval = {_toml_str(interval)}",
        f"  hostname = {_toml_str(hostname or '')}",
        "  omit_hostname = false",
        "",
        "[[outputs.influxdb]]",
        f"  urls = [{_toml_str(influx_url)}]",
        f"  database = {_toml_str(DATABASE)}",
        f"  retention_policy = {_toml_str(RETENTION_POLICY)}",
        "  skip_database_creation = true",
        f"  username = {_toml_str(WRITER)}",
        f"  password = {_toml_str(password)}",
        *([f"  tls_ca = {_toml_str(ca_file)}"] if ca_file else []),
        '  timeout = "5s"',
        "",
        "[[inputs.cpu]]",
        "  percpu = false",
        "  totalcpu = true",
        "  collect_cpu_time = false",
        "  report_active = true",
        "",
        "[[inputs.mem]]",
        "",
        "[[inputs.disk]]",
        '  ignore_fs = ["tmpfs", "devtmpfs", "devfs", "overlay", "aufs", "squashfs"]',
        "",
        "[[inputs.diskio]]",
        "",
        "[[inputs.net]]",
        "  ignore_protocol_stats = true",
        "",
        "[[inputs.system]]",
        "",
        "[[inputs.processes]]",
        "",
        "[[inputs.internal]]",
        "  collect_memstats = false",
        "",
    ]
    if units:
        lines += ["[[inputs.systemd_units]]", '  unittype = "service"',
                  f"  pattern = {_toml_str(units)}", "  details = false", ""]
    if gateway:
        lines += ["[[inputs.conntrack]]",
                  '  files = ["nf_conntrack_count", "nf_conntrack_max"]',
                  '  dirs = ["/proc/sys/net/netfilter"]', "",
                  "[[inputs.nstat]]", "  dump_zeros = false", ""]
    return "\n".join(lines)
