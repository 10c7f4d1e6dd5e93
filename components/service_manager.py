"""How a daemon is started, restarted and stopped on a host: a systemd unit per daemon.

Every host, the dev stack's included (LXD system containers with systemd as PID 1), runs the
same units. Pure functions, unit-tested on their text, run under a real systemd by
tests/integration/components/test_systemd_service_manager.py and by the e2e tests.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field



@dataclass(frozen=True)
class Daemon:
    name: str                 # unit name without prefix, e.g. "dnsmasq"
    command: list[str]        # argv, foreground (never daemonizes itself)
    description: str = ""
    # Config texts the daemon reads: a change in any of them restarts it.
    config_digest: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    # Reload on change (SIGHUP) instead of restarting, for daemons that support it (dnsmasq).
    reload_signal: str | None = None
    # systemd's usual hardening (SANDBOX); off only for a daemon that cannot live with it.
    sandboxed: bool = True
    # The daemon's own system user (and group of that name), as upstream runs it; root if None.
    # components.host.service_user makes it before the daemon's files are written.
    user: str | None = None
    # Its writable state under /var/lib (e.g. "mammatus/nats"): made and owned by `user`.
    state_dir: str | None = None
    # Capabilities the unprivileged user keeps (e.g. CAP_NET_BIND_SERVICE for port 80).
    capabilities: tuple[str, ...] = ()
    # Commands run as root before each start (ExecStartPre=+…), e.g. an address the daemon binds.
    pre_start: tuple[tuple[str, ...], ...] = ()


# What every Mammatus unit gets unless its daemon opts out: no privilege gain through setuid
# binaries, a private /tmp, /usr /boot /etc read-only and /home /root hidden. Daemons write
# only under /var/lib/mammatus and /run/mammatus, which stay writable. (Tested under a real
# systemd in an unprivileged LXD container: tests/integration/components/
# test_systemd_service_manager.py.)
SANDBOX = ("NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=full", "ProtectHome=yes")


def digest(*texts: str) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def unit_name(daemon: Daemon) -> str:
    return f"mammatus-{daemon.name}"


def _unit_text(value: str, dollars: bool = True) -> str:
    """A value as systemd reads it literally: % starts a specifier, $ a variable (ExecStart)."""
    value = value.replace("%", "%%")
    return value.replace("$", "$$") if dollars else value


_BARE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def exec_line(argv: list[str]) -> str:
    """argv as ExecStart= reads it: bare words, else double-quoted with \\ and \" escaped
    (systemd's own quoting, which is not the shell's), $ and % doubled."""
    words = [a if _BARE.match(a) else '"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"'
             for a in argv]
    return _unit_text(" ".join(words))


def _identity(daemon: Daemon) -> str:
    lines = []
    if daemon.user:
        lines += [f"User={daemon.user}", f"Group={daemon.user}"]
    if daemon.state_dir:
        lines += [f"StateDirectory={daemon.state_dir}", "StateDirectoryMode=0750"]
    if daemon.capabilities:
        caps = " ".join(daemon.capabilities)
        lines += [f"AmbientCapabilities={caps}", f"CapabilityBoundingSet={caps}"]
    return "".join(f"{line}\n" for line in lines)


def systemd_unit(daemon: Daemon) -> str:
    env = "".join(f"Environment={_unit_text(shlex.quote(f'{k}={v}'), dollars=False)}\n"
                  for k, v in sorted(daemon.environment.items()))
    return (
        "[Unit]\n"
        f"Description={daemon.description or daemon.name} (Mammatus)\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={exec_line(daemon.command)}\n"
        f"{env}"
        + _identity(daemon)
        + "".join(f"ExecStartPre=+{exec_line(list(argv))}\n" for argv in daemon.pre_start)
        + (f"ExecReload=/bin/kill -{daemon.reload_signal} $MAINPID\n" if daemon.reload_signal else "")
        + "Restart=on-failure\nRestartSec=2\n"
        # /run is empty after a reboot: systemd makes /run/mammatus (pid files, sockets) again,
        # and keeps it when one of the units sharing it stops.
        + "RuntimeDirectory=mammatus\nRuntimeDirectoryPreserve=yes\n"
        + "".join(f"{line}\n" for line in (SANDBOX if daemon.sandboxed else ()))
        + "\n"
        "[Install]\nWantedBy=multi-user.target\n"
        f"# config {daemon.config_digest}\n"
    )


def _systemd(daemon: Daemon) -> tuple[str, str, str]:
    unit = unit_name(daemon)
    path = f"/etc/systemd/system/{unit}.service"
    write = f"cat > {path} <<'MAMMATUS_UNIT'\n{systemd_unit(daemon)}MAMMATUS_UNIT\n"
    # `restart` starts a stopped unit and restarts one a lost state left running: one start
    # either way (`enable --now` first would start it twice, and a daemon stopped while it
    # is still starting, as Consul is, may take its whole stop timeout).
    create = f"{write}systemctl daemon-reload && systemctl enable {unit} && systemctl restart {unit}"
    action = "reload" if daemon.reload_signal else "restart"
    update = f"{write}systemctl daemon-reload && systemctl enable {unit} && systemctl {action} {unit}"
    delete = f"systemctl disable --now {unit} || true; rm -f {path}; systemctl daemon-reload"
    return create, update, delete


def lifecycle(daemon: Daemon) -> tuple[str, str, str]:
    """(create, update, delete) shell texts for one daemon's systemd unit."""
    return _systemd(daemon)
