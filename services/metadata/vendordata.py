"""Vendor-data: what joins an instance to the cloud's services (Consul, Vault Agent, Telegraf).

How cloud-init 22.4 merges (and why the document has two parts): vendor-data's cloud-config is
stored apart from user-data's and merged last, with user-data winning *per top-level key*; a
`merge_how` in vendor-data is consumed while its parts are combined and does not survive to that
final merge. So a user-data `runcmd` or `write_files` would silently drop ours. Hence:

  * `settings` (text/cloud-config): cloud-wide defaults the user is *meant* to be able to
    override (manage_etc_hosts, ssh_pwauth). Valid under cloud-init's schema.
  * `agents` (text/x-shellscript, `mammatus-agents.sh`): writes the agent configs and a marker
    and enables the agents the image carries. Vendor scripts run from scripts/vendor, untouched
    by anything in user-data; a user opts out with `vendor_data: {enabled: false}`.

No secret goes in here: vendor-data is readable by every process on the instance and cloud-init
keeps copies of it. OpenStack serves `settings` as vendor_data.json (static, cloud-wide) and
`agents` as vendor_data2.json (dynamic, per instance); NoCloud serves both in one MIME document.
"""

from __future__ import annotations

import base64
import hashlib
import json
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Optional

import yaml

from .config import Config
from .identity import Identity

MARKER = "/var/lib/mammatus/vendor-data.json"
CA_PATH = "/usr/local/share/ca-certificates/mammatus-root.crt"
AGENTS_SCRIPT = "mammatus-agents.sh"
SETTINGS_PART = "mammatus-settings.cfg"


def settings(config: Config) -> dict:
    """Cloud-wide cloud-config; every key here may be overridden by user-data."""
    return {
        "manage_etc_hosts": True,   # the instance resolves its own name without DNS
        "ssh_pwauth": False,        # keys only, as on the public clouds
    }


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def agent_files(config: Config, ident: Identity) -> list[tuple[str, str]]:
    """(path, content) of every file the agents script writes, marker last."""
    vd, inst, cloud = config.vendor_data, ident.instance, config.cloud
    files, services = [], []
    if vd.ca_cert_pem:
        files.append((CA_PATH, vd.ca_cert_pem.strip()))
    if vd.consul:
        c = vd.consul
        agent = {
            "datacenter": c.datacenter,
            "domain": c.domain,
            "node_name": inst.name,
            "data_dir": "/opt/consul",
            "retry_join": c.retry_join,
            "advertise_addr": ident.ip,
            "node_meta": {"instance_id": inst.instance_id, "cloud": cloud.name},
        }
        files.append(("/etc/consul.d/mammatus.json", json.dumps(agent, indent=2, sort_keys=True)))
        services.append("consul")
    if vd.vault:
        v = vd.vault
        ca_cert = v.ca_cert or (CA_PATH if vd.ca_cert_pem else None)
        agent = {
            "vault": dict({"address": v.address}, **({"ca_cert": ca_cert} if ca_cert else {})),
            "auto_auth": {
                "method": [{"type": "cert", "mount_path": f"auth/{v.auth_mount}",
                            "config": {"name": inst.name}}],
                "sink": [{"type": "file", "config": {"path": "/run/vault-agent/token",
                                                     "mode": 0o600}}],
            },
            "cache": {"use_auto_auth_token": True},
            "listener": [{"type": "tcp", "address": "127.0.0.1:8100", "tls_disable": True}],
        }
        files.append(("/etc/vault.d/agent.json", json.dumps(agent, indent=2, sort_keys=True)))
        files.append(("/etc/systemd/system/vault-agent.service",
                      "[Unit]\nDescription=Vault Agent (Mammatus)\nAfter=network-online.target\n\n"
                      "[Service]\nExecStart=/usr/bin/vault agent -config=/etc/vault.d/agent.json\n"
                      "Restart=on-failure\n\n[Install]\nWantedBy=multi-user.target"))
        services.append("vault")
    if vd.telegraf:
        t = vd.telegraf
        files.append(("/etc/telegraf/telegraf.d/mammatus.conf",
                      f"[global_tags]\n  instance_id = {json.dumps(inst.instance_id)}\n"
                      f"  cloud = {json.dumps(cloud.name)}\n\n"
                      f"[agent]\n  interval = {json.dumps(t.interval)}\n\n"
                      f"[[outputs.influxdb]]\n  urls = {_toml_list(t.influxdb_urls)}\n"
                      f"  database = {json.dumps(t.database)}"))
        services.append("telegraf")
    # Always present: shows the instance (and the e2e test) that vendor-data was applied.
    files.append((MARKER, json.dumps({"instance_id": inst.instance_id, "name": inst.name,
                                      "cloud": cloud.name, "services": services},
                                     sort_keys=True)))
    return files


UNITS = {"consul": ("consul", "consul"), "vault": ("vault-agent", "vault"),
         "telegraf": ("telegraf", "telegraf")}


def agents_script(config: Config, ident: Identity) -> str:
    """Idempotent POSIX sh; file contents travel base64-encoded so no quoting can break them."""
    lines = ["#!/bin/sh", "# Mammatus vendor-data: cloud agents for this instance.", "set -eu",
             # MAMMATUS_ROOT: write under another root and start nothing (tests, image builds).
             'R="${MAMMATUS_ROOT:-}"']
    for path, content in agent_files(config, ident):
        encoded = base64.b64encode((content + "\n").encode()).decode()
        directory = path.rsplit("/", 1)[0]
        lines.append(f"mkdir -p \"$R{directory}\" && echo '{encoded}' | base64 -d > \"$R{path}\"")
    vd = config.vendor_data
    if vd.ca_cert_pem:
        lines.append('if [ -z "$R" ] && command -v update-ca-certificates >/dev/null 2>&1; then '
                     "update-ca-certificates >/dev/null; fi")
    for name in ("consul", "vault", "telegraf"):
        if getattr(vd, name):
            unit, binary = UNITS[name]
            # Agents come with the image; an image without one still boots cleanly.
            lines.append(f'if [ -z "$R" ] && command -v {binary} >/dev/null 2>&1; then '
                         f"systemctl daemon-reload; systemctl enable --now {unit} || true; fi")
    return "\n".join(lines) + "\n"


def settings_cloud_config(config: Config) -> str:
    return "#cloud-config\n" + yaml.safe_dump(settings(config), sort_keys=False)


def multipart(parts: list[tuple[str, str, str]]) -> str:
    """MIME multipart of (subtype, filename, text). The boundary is derived from the content so
    the document (and its ETag) is identical on every replica and every request."""
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
    message = MIMEMultipart(boundary=f"==mammatus-{digest}==")
    for subtype, filename, text in parts:
        # 7-bit parts stay readable in cloud-init's stored copy; base64 only when needed.
        part = MIMEText(text, subtype, "us-ascii" if text.isascii() else "utf-8")
        part.add_header("Content-Disposition", "attachment", filename=filename)
        message.attach(part)
    return message.as_string()


def document(config: Config, ident: Identity) -> str:
    """The whole vendor-data (NoCloud): settings + agents."""
    return multipart([("cloud-config", SETTINGS_PART, settings_cloud_config(config)),
                      ("x-shellscript", AGENTS_SCRIPT, agents_script(config, ident))])


def agents_document(config: Config, ident: Identity) -> Optional[str]:
    return multipart([("x-shellscript", AGENTS_SCRIPT, agents_script(config, ident))])
