"""dnsmasq's `dhcp-script`: sends each DHCP lease event to the metadata service on another host.

    python -m services.metadata.lease_hook --config FILE add|old|del MAC IP [HOSTNAME]
    python -m services.metadata.lease_hook --config FILE --sync LEASE_FILE

dnsmasq runs the script for every lease it hands out, renews (`script-on-renewal`), or drops,
and with `old` for each lease it finds at start; the expiry comes in DNSMASQ_LEASE_EXPIRES.
Other calls (tftp, arp, IPv6 leases) are ignored. `--sync` sends the whole lease file, replacing
what the service holds (after the service is deployed, and whenever its key changes).

Config (YAML, written by the Metadata layer): `url` (the service's push listener, …/v1/leases)
and `secret_file` (the shared key, 0600). Without a config file the hook does nothing: dnsmasq
may start before the metadata service exists. Standard library only, no event is held back:
a failed send is logged to stderr (dnsmasq logs it) and the next renewal or `--sync` mends it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from .lease_push import SIGNATURE_HEADER, encode, sign
from .leases import parse_leases


def event_of(argv: list[str], env: dict) -> dict | None:
    """The lease event dnsmasq describes, or None for a call that is not an IPv4 lease."""
    if len(argv) < 3 or argv[0] not in ("add", "old", "del") or env.get("DNSMASQ_IAID"):
        return None
    action, mac, ip = argv[0], argv[1].lower(), argv[2]
    try:
        if ipaddress.ip_address(ip).version != 4:
            return None
    except ValueError:
        return None
    expiry = env.get("DNSMASQ_LEASE_EXPIRES")
    if expiry is None and env.get("DNSMASQ_LEASE_LENGTH"):    # dnsmasq built with HAVE_BROKEN_RTC
        expiry = str(int(time.time()) + int(env["DNSMASQ_LEASE_LENGTH"]))
    hostname = argv[3] if len(argv) > 3 and argv[3] else None
    return {"action": action, "mac": mac, "ip": ip, "hostname": hostname,
            "expiry": int(expiry) if expiry and expiry.isdigit() else 0}


def sync_events(lease_file: Path) -> list[dict]:
    try:
        text = lease_file.read_text(errors="replace")
    except FileNotFoundError:
        text = ""
    return [{"action": "add", "mac": lease.mac, "ip": lease.ip,
             "hostname": None if lease.hostname == "*" else lease.hostname, "expiry": lease.expiry}
            for lease in parse_leases(text)]


def send(url: str, key: bytes, leases: list[dict], sync: bool, attempts: int,
         timeout: float = 3.0) -> None:
    """POSTs one signed push, a fresh body (and so signature) each attempt."""
    error: Exception | None = None
    for attempt in range(attempts):
        body = encode(leases, sync=sync)
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(key, body)})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                return
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            if exc.code < 500:
                raise RuntimeError(f"{url} refused the push: {exc.code} {detail}") from None
            error = exc
        except OSError as exc:
            error = exc
        time.sleep(min(0.5 * 2 ** attempt, 4))
    raise RuntimeError(f"cannot reach {url}: {error}")


def main(argv=None, env=None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m services.metadata.lease_hook")
    parser.add_argument("--config", required=True)
    parser.add_argument("--sync", metavar="LEASE_FILE",
                        help="send the whole lease file, replacing what the service holds")
    parser.add_argument("event", nargs="*", help="what dnsmasq passes: ACTION MAC IP [HOSTNAME]")
    args = parser.parse_args(argv)
    config_path = Path(args.config)
    if not config_path.exists():
        return 0    # the metadata layer is not deployed yet
    try:
        config = yaml.safe_load(config_path.read_text()) or {}
        url, key = config["url"], Path(config["secret_file"]).read_bytes().strip()
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        print(f"lease_hook: bad config {config_path}: {exc}", file=sys.stderr)
        return 2
    if args.sync:
        leases, sync, attempts = sync_events(Path(args.sync)), True, 8
    else:
        event = event_of(args.event, env)
        if event is None:
            return 0
        leases, sync, attempts = [event], False, 3
    try:
        send(url, key, leases, sync, attempts)
    except RuntimeError as exc:
        print(f"lease_hook: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
