"""Telegraf's config (TOML): cpu, mem, disk, net and system inputs, written to the monitoring
host's InfluxDB through the `influxdb_v2` output. The same renderer serves the cloud's hosts and,
through vendor-data, instances (components/render/vendor_data.py). Pure; loaded and run by the
real Telegraf in tests (tools/telegraf: a pinned build with just these plugins; Telegraf is not
packaged in Debian bookworm).
"""

from __future__ import annotations

import json
from typing import Mapping, Optional

from components.render.influx import DATABASE, RETENTION_POLICY

INPUTS = ("cpu", "mem", "disk", "net", "system")


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for our values


def telegraf_config(influx_url: str, hostname: Optional[str] = None,
                    tags: Optional[Mapping[str, str]] = None, interval: str = "10s",
                    token: str = "", organization: str = "mammatus",
                    bucket: str = f"{DATABASE}/{RETENTION_POLICY}") -> str:
    """`hostname` None: Telegraf uses the machine's own (what instances want)."""
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
        "[[outputs.influxdb_v2]]",
        f"  urls = [{_toml_str(influx_url)}]",
        f"  token = {_toml_str(token)}",
        f"  organization = {_toml_str(organization)}",
        f"  bucket = {_toml_str(bucket)}",
        "",
        "[[inputs.cpu]]",
        "  percpu = true",
        "  totalcpu = true",
        "  collect_cpu_time = false",
        "  report_active = true",
        "",
        "[[inputs.mem]]",
        "",
        "[[inputs.disk]]",
        '  ignore_fs = ["tmpfs", "devtmpfs", "devfs", "overlay", "aufs", "squashfs"]',
        "",
        "[[inputs.net]]",
        "",
        "[[inputs.system]]",
        "",
    ]
    return "\n".join(lines)
