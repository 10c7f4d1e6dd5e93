"""Leases pushed by the cloud's DHCP server when the metadata service runs on another host.

Identity is source IP -> lease -> MAC -> instance. When dnsmasq and the service share a host the
service reads dnsmasq's lease file; otherwise dnsmasq's `dhcp-script` (services/metadata/
lease_hook.py) sends each lease event here, signed with a key both hosts hold. The service keeps
what it was told in a lease file of its own (dnsmasq's format, written atomically), which every
worker reads like any other lease source, so a restart loses nothing.

Wire format (docs/metadata.md): `POST /v1/leases`, JSON body
    {"sent": <epoch seconds>, "sync": <bool>, "leases": [
        {"action": "add"|"old"|"del", "mac": "aa:bb:..", "ip": "a.b.c.d",
         "hostname": "name"|null, "expiry": <epoch seconds, 0 = never>}, ...]}
with `X-Mammatus-Lease-Signature: <hex HMAC-SHA256 of the body under the shared key>`.
`sync: true` replaces every lease with the list (the hook's `--sync`, from dnsmasq's lease file).
A body older or newer than MAX_SKEW, or one already seen, is refused: a captured push cannot be
replayed to bind an address to a MAC it no longer holds.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .inventory import MAC
from .leases import Lease, parse_leases

PATH = "/v1/leases"
SIGNATURE_HEADER = "X-Mammatus-Lease-Signature"
MAX_BODY = 1 << 20          # a /16's worth of leases fits many times over
MAX_SKEW = 300.0            # seconds between the DHCP host's clock and ours (as SigV4 allows)
ACTIONS = ("add", "old", "del")


class PushError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def sign(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def encode(leases: list[dict], *, sync: bool, sent: Optional[float] = None) -> bytes:
    return json.dumps({"sent": time.time() if sent is None else sent, "sync": sync,
                       "leases": leases}, sort_keys=True).encode()


@dataclass(frozen=True)
class Event:
    action: str
    lease: Lease


def parse_body(body: bytes) -> tuple[float, bool, list[Event]]:
    """(sent, sync, events) or PushError(400) naming what is wrong."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PushError(400, f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PushError(400, "body must be a JSON object")
    sent, sync, items = doc.get("sent"), doc.get("sync", False), doc.get("leases")
    if not isinstance(sent, (int, float)) or isinstance(sent, bool):
        raise PushError(400, "sent must be a number (epoch seconds)")
    if not isinstance(sync, bool):
        raise PushError(400, "sync must be true or false")
    if not isinstance(items, list):
        raise PushError(400, "leases must be a list")
    events = []
    for i, item in enumerate(items):
        events.append(_event(i, item))
    return float(sent), sync, events


def _event(i: int, item) -> Event:
    where = f"leases[{i}]"
    if not isinstance(item, dict):
        raise PushError(400, f"{where} must be an object")
    action, mac, ip = item.get("action"), item.get("mac"), item.get("ip")
    hostname, expiry = item.get("hostname"), item.get("expiry", 0)
    if action not in ACTIONS:
        raise PushError(400, f"{where}.action must be one of {', '.join(ACTIONS)}")
    if not isinstance(mac, str) or not MAC.match(mac.lower()):
        raise PushError(400, f"{where}.mac must be a MAC address")
    try:
        address = ipaddress.IPv4Address(ip if isinstance(ip, str) else "")
    except ValueError:
        raise PushError(400, f"{where}.ip must be an IPv4 address") from None
    if hostname is not None and (not isinstance(hostname, str) or not hostname
                                 or any(c.isspace() for c in hostname)):
        raise PushError(400, f"{where}.hostname must be a name without spaces, or null")
    if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry < 0:
        raise PushError(400, f"{where}.expiry must be a non-negative integer")
    return Event(action, Lease(expiry, mac.lower(), str(address), hostname or "*"))


class LeaseTable:
    """The pushed leases, one per address, saved to `path` in dnsmasq's lease-file format."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._by_ip = {lease.ip: lease for lease in parse_leases(self.path.read_text())}
        except FileNotFoundError:
            self._by_ip = {}

    def apply(self, events: list[Event], sync: bool) -> None:
        table = {} if sync else dict(self._by_ip)
        for event in events:
            lease = event.lease
            if event.action == "del":
                if lease.ip in table and table[lease.ip].mac == lease.mac:
                    del table[lease.ip]
            else:
                table[lease.ip] = lease
        self._by_ip = table
        self._save()

    def leases(self) -> list[Lease]:
        return sorted(self._by_ip.values(), key=lambda lease: ipaddress.IPv4Address(lease.ip))

    def _save(self) -> None:
        text = "".join(f"{lease.expiry} {lease.mac} {lease.ip} {lease.hostname} *\n" for lease in self.leases())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".leases.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, self.path)   # readers see the old file or the new, never half
        except BaseException:
            os.unlink(tmp)
            raise


class Receiver:
    """Checks a push (size, signature, freshness, replay) and applies it to the table."""

    def __init__(self, key: bytes, table: LeaseTable, clock: Callable[[], float] = time.time,
                 max_skew: float = MAX_SKEW):
        if not key:
            raise ValueError("the lease push key is empty")
        self.key, self.table, self.clock, self.max_skew = key, table, clock, max_skew
        self._seen: dict[str, float] = {}   # signature -> sent, while within the window

    def receive(self, body: bytes, signature: Optional[str]) -> int:
        if len(body) > MAX_BODY:
            raise PushError(413, f"body over {MAX_BODY} bytes")
        if not signature or not hmac.compare_digest(sign(self.key, body), signature.strip().lower()):
            raise PushError(403, f"missing or bad {SIGNATURE_HEADER}")
        sent, sync, events = parse_body(body)
        now = self.clock()
        if abs(now - sent) > self.max_skew:
            raise PushError(403, f"sent {now - sent:+.0f} s from this host's clock "
                                 f"(more than {self.max_skew:g} s)")
        self._seen = {s: t for s, t in self._seen.items() if abs(now - t) <= self.max_skew}
        if signature in self._seen:
            raise PushError(403, "this push was already received")
        self._seen[signature] = sent
        self.table.apply(events, sync)
        return len(events)


def make_app(receiver: Receiver):
    from aiohttp import web   # here, so the hook (which imports this module) starts fast

    async def handle(request: web.Request) -> web.Response:
        if request.path != PATH:
            return web.Response(status=404, text="not found\n")
        if request.method != "POST":
            return web.Response(status=405, text=f"method {request.method} not allowed\n")
        if (request.content_length or 0) > MAX_BODY:
            return web.Response(status=413, text=f"body over {MAX_BODY} bytes\n")
        try:
            body = await request.content.read(MAX_BODY + 1)
            count = receiver.receive(body, request.headers.get(SIGNATURE_HEADER))
        except PushError as exc:
            return web.Response(status=exc.status, text=exc.message + "\n")
        return web.json_response({"applied": count})

    app = web.Application(client_max_size=MAX_BODY + 1)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
