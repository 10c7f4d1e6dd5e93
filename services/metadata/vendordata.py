"""Vendor-data: what joins an instance to the cloud's services (Consul, Vault Agent, Telegraf,
its iSCSI volumes).

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
import shlex
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
        files += consul_files(vd.consul, inst, cloud.name)
        services.append("consul")
    if vault_role(vd, inst):
        files += [(f.path, f.content.rstrip("\n")) for f in vd.vault.files[vault_role(vd, inst)]]
        services.append("vault")
    if vd.telegraf:
        files += telegraf_files(vd.telegraf, inst, cloud.name, CA_PATH if vd.ca_cert_pem else None)
        services.append("telegraf")
    if iscsi_initiator(vd, inst):
        files += iscsi_files(iscsi_initiator(vd, inst))
        services.append("iscsi")
    if needs_installer(vd):
        files.append((INSTALLER, INSTALLER_SOURCE))
    # Always present: shows the instance (and the e2e test) that vendor-data was applied.
    files.append((MARKER, json.dumps({"instance_id": inst.instance_id, "name": inst.name,
                                      "cloud": cloud.name, "services": services},
                                     sort_keys=True)))
    return files


CONSUL_CONFIG_DIR = "/etc/consul.d"                   # the user's services go here too
CONSUL_CONFIG = f"{CONSUL_CONFIG_DIR}/mammatus.json"
CONSUL_SECRETS = "/etc/mammatus/consul/secrets.json"  # 0600 root: fetched at boot
CONSUL_BINARY = "/usr/local/bin/consul"
CONSUL_CREDENTIALS_PATH = "/mammatus/v1/consul-credentials"


def consul_files(c, inst, cloud: str) -> list[tuple[str, str]]:
    agent = {**c.agent, "node_name": inst.name,
             "node_meta": {"instance_id": inst.instance_id, "cloud": cloud}}
    return [(CONSUL_CONFIG, json.dumps(agent, indent=2, sort_keys=True)),
            (f"{CONSUL_CONFIG_DIR}/README", "Consul loads *.json and *.hcl here: add your "
                                            "services' definitions (consulServices in the stack)."),
            ("/etc/systemd/system/consul.service", consul_unit(c))]


def consul_unit(c) -> str:
    binary = CONSUL_BINARY if c.artifact_url else "/usr/bin/consul"
    # The agent runs as a user of its own; its secrets stay root's 0600 file, which systemd
    # hands it as a credential (never in its environment, never on its command line).
    return ("[Unit]\nDescription=Consul agent (Mammatus: joins the cloud's Consul)\n"
            "After=network-online.target\nWants=network-online.target\n"
            f"ConditionPathExists={CONSUL_SECRETS}\n\n"
            "[Service]\nDynamicUser=yes\nStateDirectory=consul\n"
            f"LoadCredential=secrets.json:{CONSUL_SECRETS}\n"
            f"ExecStart={binary} agent -config-dir={CONSUL_CONFIG_DIR} "
            "-config-file=%d/secrets.json\n"
            "ExecReload=/bin/kill -HUP $MAINPID\nKillSignal=SIGINT\n"
            "Restart=on-failure\nRestartSec=5\n\n"
            "[Install]\nWantedBy=multi-user.target")


def needs_installer(vd) -> bool:
    """Whether an agent is downloaded, or credentials fetched, at boot (install-agent.py)."""
    return any(a is not None and (getattr(a, "artifact_url", None) or a.credentials)
               for a in (vd.consul, vd.telegraf, vd.vault, vd.iscsi))


# open-iscsi's own files (Debian's iscsiadm/iscsid read them; ISCSI_DB_ROOT is /etc/iscsi).
ISCSI_INITIATOR_NAME = "/etc/iscsi/initiatorname.iscsi"
ISCSI_NODES = "/etc/iscsi/nodes"
ISCSI_CREDENTIALS_PATH = "/mammatus/v1/iscsi-credentials"
ISCSI_TPGT = 1     # the target's TPG (dynamic_providers/targetcli.py: tpg1)


def iscsi_initiator(vd, inst):
    """The instance's initiator settings, None when it has no volume."""
    return vd.iscsi.initiators.get(inst.name) if vd.iscsi is not None else None


def node_record_path(node) -> str:
    """Where iscsiadm keeps a static node record: nodes/<target>/<ip>,<port>,<tpgt>/<iface>."""
    return f"{ISCSI_NODES}/{node.target}/{node.address},{node.port},{ISCSI_TPGT}/default"


def node_record(node) -> str:
    """The record as iscsiadm writes one (`name = value` lines; what it leaves out it takes
    from its built-in defaults): logged in at boot, CHAP with the instance's user. The
    password line is added on the instance from the metadata service (INSTALLER `chap`)."""
    lines = ["# BEGIN RECORD (Mammatus vendor-data)",
             f"node.name = {node.target}",
             f"node.tpgt = {ISCSI_TPGT}",
             "node.startup = automatic",
             "node.leading_login = No",
             "node.discovery_type = static",
             "iface.iscsi_ifacename = default",
             "iface.transport_name = tcp",
             "node.session.auth.authmethod = CHAP",
             f"node.session.auth.username = {node.username}",
             f"node.conn[0].address = {node.address}",
             f"node.conn[0].port = {node.port}",
             "node.conn[0].startup = automatic",
             "# END RECORD"]
    return "\n".join(lines)


def iscsi_files(initiator) -> list[tuple[str, str]]:
    return [(ISCSI_INITIATOR_NAME, f"InitiatorName={initiator.name}"),
            *((node_record_path(n), node_record(n)) for n in initiator.nodes)]


VAULT_CREDENTIALS_PATH = "/mammatus/v1/vault-credentials"


def vault_role(vd, inst) -> Optional[str]:
    """The Vault role of an instance that has an agent: its credentials name one the config
    has files for."""
    creds = inst.credential("vault")
    role = creds.get("role") if creds else None
    return role if vd.vault is not None and role in vd.vault.files else None


TELEGRAF_CONFIG = "/etc/telegraf/telegraf.conf"
TELEGRAF_INCLUDES = "/etc/telegraf/telegraf.d"   # the user's own inputs, loaded after ours
TELEGRAF_ENV = "/etc/telegraf/mammatus.env"      # its InfluxDB user: 0600, fetched at boot
TELEGRAF_BINARY = "/usr/local/bin/telegraf"
INSTALLER = "/usr/local/lib/mammatus/install-agent.py"
CREDENTIALS_PATH = "/mammatus/v1/telemetry-credentials"

# What an instance reports (its own name as the host tag): as the cloud's hosts do, less what a
# container cannot see.
TELEGRAF_INPUTS = """[[inputs.cpu]]
  percpu = false
  totalcpu = true
[[inputs.mem]]
[[inputs.disk]]
  ignore_fs = ["tmpfs", "devtmpfs", "devfs", "overlay", "squashfs"]
[[inputs.net]]
[[inputs.system]]
[[inputs.processes]]"""


def telegraf_config(t, inst, cloud: str, ca_path: Optional[str]) -> str:
    out = ["[[outputs.influxdb]]", f"  urls = {_toml_list(t.influxdb_urls)}",
           f"  database = {json.dumps(t.database)}", "  skip_database_creation = true"]
    if t.retention_policy:
        out.append(f"  retention_policy = {json.dumps(t.retention_policy)}")
    if t.credentials:
        # Telegraf substitutes these from its environment (the unit's EnvironmentFile).
        out += ['  username = "${INFLUX_USERNAME}"', '  password = "${INFLUX_PASSWORD}"']
    if ca_path:
        out.append(f"  tls_ca = {json.dumps(ca_path)}")
    return "\n".join([
        "# Mammatus vendor-data: this instance's metrics to the cloud's InfluxDB.",
        f"[global_tags]\n  instance_id = {json.dumps(inst.instance_id)}\n"
        f"  cloud = {json.dumps(cloud)}",
        f"[agent]\n  interval = {json.dumps(t.interval)}\n  hostname = {json.dumps(inst.name)}",
        TELEGRAF_INPUTS, *out])


def telegraf_unit(t) -> str:
    env = f"EnvironmentFile={TELEGRAF_ENV}\n" if t.credentials else ""
    return ("[Unit]\nDescription=Telegraf (Mammatus: this instance's metrics)\n"
            "After=network-online.target\nWants=network-online.target\n\n"
            f"[Service]\n{env}"
            f"ExecStart={TELEGRAF_BINARY} --config {TELEGRAF_CONFIG} "
            f"--config-directory {TELEGRAF_INCLUDES}\n"
            "DynamicUser=yes\nRestart=on-failure\nRestartSec=5\n\n"
            "[Install]\nWantedBy=multi-user.target")


def telegraf_files(t, inst, cloud: str, ca_path: Optional[str]) -> list[tuple[str, str]]:
    files = [(TELEGRAF_CONFIG, telegraf_config(t, inst, cloud, ca_path)),
             (f"{TELEGRAF_INCLUDES}/README", "Telegraf loads *.conf here after Mammatus' "
                                             "telegraf.conf: add your own inputs.")]
    if t.artifact_url:
        files.append(("/etc/systemd/system/telegraf.service", telegraf_unit(t)))
    return files


# Run by the agents script with the instance's python3 (in every image): fetches a file and
# installs it only if its sha256 is the pinned one; fetches the instance's own credentials with
# a session token. Retries for a minute (the artifact server or the metadata service may still
# be starting when the instance boots).
INSTALLER_SOURCE = '''#!/usr/bin/python3
"""install-agent.py binary URL SHA256 PATH | credentials BASE PATH SECRET | fields BASE SECRET NAME=PATH...
| chap BASE SECRET NAME=RECORD... (each open-iscsi node record gets field NAME as its CHAP password)"""
import hashlib, json, os, sys, time, urllib.request

def fetch(request):
    for attempt in range(30):
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.read()
        except OSError as exc:
            error = exc
            time.sleep(2)
    sys.exit(f"install-agent: {request.full_url if hasattr(request, 'full_url') else request}: {error}")

def write(path, data, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".new"
    if os.path.exists(tmp):
        os.remove(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)

if sys.argv[1] == "binary":
    url, sha, path = sys.argv[2:5]
    if os.path.exists(path) and hashlib.sha256(open(path, "rb").read()).hexdigest() == sha:
        sys.exit(0)
    data = fetch(url)
    got = hashlib.sha256(data).hexdigest()
    if got != sha:
        sys.exit(f"install-agent: {url} has sha256 {got}, the cloud pinned {sha}: not installed")
    write(path, data, 0o755)
else:
    base = sys.argv[2]
    token = fetch(urllib.request.Request(base + "/latest/api/token", method="PUT", headers={
        "X-aws-ec2-metadata-token-ttl-seconds": "60"})).decode()
    if sys.argv[1] == "credentials":
        path, secret = sys.argv[3], sys.argv[4]
    else:   # fields|chap BASE PATH_ON_THE_SERVICE field=file ...
        secret = sys.argv[3]
    creds = json.loads(fetch(urllib.request.Request(base + secret, headers={
        "X-aws-ec2-metadata-token": token})))
    if sys.argv[1] == "credentials":
        write(path, f"INFLUX_USERNAME={creds['username']}\\nINFLUX_PASSWORD={creds['password']}\\n".encode(),
              0o600)
    elif sys.argv[1] == "chap":
        # The record as vendor-data wrote it, rewritten as a new 0600 file with the password.
        for pair in sys.argv[4:]:
            name, path = pair.split("=", 1)
            lines = [line for line in open(path).read().splitlines()
                     if not line.startswith("node.session.auth.password ")]
            password = "node.session.auth.password = " + creds[name]
            end = lines.index("# END RECORD") if "# END RECORD" in lines else len(lines)
            write(path, "\\n".join(lines[:end] + [password] + lines[end:]).encode() + b"\\n", 0o600)
    else:
        for pair in sys.argv[4:]:
            name, path = pair.split("=", 1)
            write(path, creds[name].encode(), 0o600)
'''

METADATA_URL = "http://169.254.169.254"

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
    c, t = vd.consul, vd.telegraf
    for agent, binary in ((c, CONSUL_BINARY), (t, TELEGRAF_BINARY)):
        if agent and agent.artifact_url:
            lines.append(f'if [ -z "$R" ]; then python3 {INSTALLER} binary '
                         f"{shlex.quote(agent.artifact_url)} {agent.sha256} {binary}; fi")
    if c and c.credentials:
        lines.append(f'if [ -z "$R" ]; then python3 {INSTALLER} fields {METADATA_URL} '
                     f"{CONSUL_CREDENTIALS_PATH} config={CONSUL_SECRETS}; fi")
    role = vault_role(vd, ident.instance)
    if role and vd.vault.credentials:
        # The modes the cloud asked for are below 0600 (config.py): the installer's own.
        paths = vd.vault.credential_paths
        lines.append(f'if [ -z "$R" ]; then python3 {INSTALLER} fields {METADATA_URL} '
                     f"{VAULT_CREDENTIALS_PATH} role_id={paths.role_id} "
                     f"wrapped_secret_id={paths.wrapped_secret_id}; fi")
    if role:
        for f in vd.vault.files[role]:
            if f.mode != "0644":
                lines.append(f'chmod {f.mode} "$R{f.path}"')
    if t and t.credentials:
        lines.append(f'if [ -z "$R" ]; then python3 {INSTALLER} credentials {METADATA_URL} '
                     f"{TELEGRAF_ENV} {CREDENTIALS_PATH}; fi")
    lines += iscsi_lines(vd, ident.instance)
    for name in ("consul", "vault", "telegraf"):
        if getattr(vd, name) and (name != "vault" or role):
            unit, binary = UNITS[name]
            # Agents come with the image; an image without one still boots cleanly.
            lines.append(f'if [ -z "$R" ] && {{ command -v {binary} || [ -x /usr/local/bin/{binary} ]; }}'
                         f" >/dev/null 2>&1; then "
                         f"systemctl daemon-reload; systemctl enable --now {unit} || true; fi")
    return "\n".join(lines) + "\n"


def iscsi_lines(vd, inst) -> list[str]:
    """The CHAP passwords into the node records (a new 0600 file each; never a command line),
    then, where the image has open-iscsi, iscsid restarted for the initiator name (it reads it
    once) and a login to every automatic record. Without iscsiadm the records wait for it."""
    initiator = iscsi_initiator(vd, inst)
    if initiator is None:
        return []
    # As iscsiadm keeps its records: root's alone (0700 directories, 0600 files).
    lines = [f'chmod -R go= "$R{ISCSI_NODES}"']
    if vd.iscsi.credentials:
        records = " ".join(f"{n.volume}={shlex.quote(node_record_path(n))}" for n in initiator.nodes)
        lines.append(f'if [ -z "$R" ]; then python3 {INSTALLER} chap {METADATA_URL} '
                     f"{ISCSI_CREDENTIALS_PATH} {records}; fi")
    lines.append('if [ -z "$R" ] && command -v iscsiadm >/dev/null 2>&1; then '
                 "systemctl try-restart iscsid.service >/dev/null 2>&1 || true; "
                 "iscsiadm -m node --loginall=automatic || echo 'mammatus-agents: iSCSI login "
                 "failed (iscsiadm -m node shows the records)' >&2; fi")
    return lines


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
