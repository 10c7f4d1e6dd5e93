"""dnsmasq reservations and DNS records as resources: one small file each, then SIGHUP.

A reservation is a line in a file of dnsmasq's `dhcp-hostsfile` directory (`mac,address,name`,
or `mac,name` to name a client whose address comes from the range, as an instance's),
a record a line in a file of its `addn-hosts` directory (`address name`); dnsmasq re-reads both
on SIGHUP (sent to the pid in its pid-file). `read` reads the file back (and, for a reservation,
the lease file) so a refresh sees drift. Files travel over SSH (paramiko, SFTP) with the admin
key, or stay local when no connection is given (tests, a dnsmasq on the machine running Pulumi).

Pure builders (`reservation_line`, `record_line`, paths, `sighup_command`) and parsers
(`parse_reservation`, `parse_record`, `parse_leases`) are apart from the transport. Nothing
connects in check or diff, so an offline preview works.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import shlex
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.transport import transport
from dynamic_providers.base import MammatusProvider

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
HEADER = "# managed by Mammatus (dynamic_providers/dnsmasq.py)\n"


# ---------------------------------------------------------------- pure builders and parsers

def reservation_path(dhcp_hosts_dir: str, mac: str) -> str:
    return posixpath.join(dhcp_hosts_dir, "mammatus-" + mac.replace(":", "-"))


def record_path(hosts_dir: str, name: str) -> str:
    return posixpath.join(hosts_dir, "mammatus-" + name)


def reservation_line(mac: str, address: Optional[str], hostname: str) -> str:
    """A dhcp-hostsfile entry (the dhcp-host= syntax without the option name); without an
    address it only names the client."""
    return f"{HEADER}{mac},{address + ',' if address else ''}{hostname}\n"


def record_line(name: str, address: str) -> str:
    """A hosts-file entry; the short name too when the record is inside a domain."""
    short = name.split(".", 1)[0]
    names = name if short == name else f"{name} {short}"
    return f"{HEADER}{address} {names}\n"


def _content_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def parse_reservation(text: str) -> Optional[dict[str, str]]:
    """{mac, address (None: named only), hostname} from a reservation file; None when it holds
    none."""
    for line in _content_lines(text):
        fields = [f.strip() for f in line.split(",")]
        mac = next((f.lower() for f in fields if MAC.match(f.lower())), None)
        address = next((f for f in fields if _is_ipv4(f)), None)
        rest = [f for f in fields if f.lower() != mac and f != address
                and not f.startswith(("set:", "tag:", "id:")) and not re.match(r"^\d+[smhd]?$|^infinite$", f)]
        if mac:
            return {"mac": mac, "address": address, "hostname": rest[0] if rest else ""}
    return None


def parse_record(text: str) -> Optional[dict[str, str]]:
    """{name, address} from a record file (its first name is the record's)."""
    for line in _content_lines(text):
        fields = line.split()
        if len(fields) >= 2 and _is_ipv4(fields[0]):
            return {"name": fields[1], "address": fields[0]}
    return None


def parse_leases(text: str) -> list[dict[str, Any]]:
    """dnsmasq's lease file: `expiry mac ip hostname client-id` per IPv4 lease ("*" = none)."""
    leases = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] == "duid" or not _is_ipv4(fields[2]):
            continue
        leases.append({
            "expiry": int(fields[0]),
            "mac": fields[1].lower(),
            "address": fields[2],
            "hostname": None if fields[3] == "*" else fields[3],
            "client_id": None if len(fields) < 5 or fields[4] == "*" else fields[4],
        })
    return leases


def lease_for(leases: list[dict[str, Any]], mac: str) -> Optional[dict[str, Any]]:
    return next((lease for lease in leases if lease["mac"] == mac.lower()), None)


def sighup_command(pid_file: str) -> str:
    """Tells dnsmasq to re-read its hosts files; nothing to do when it is not started yet (it
    reads them when it starts), an error when its pid file names a dead process."""
    pid = shlex.quote(pid_file)
    return f'if [ -s {pid} ]; then kill -HUP "$(cat {pid})"; fi'


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


def _check_common(inputs: dict, failures: list[CheckFailure], dir_key: str,
                  address_optional: bool = False) -> None:
    for key in (dir_key, "pid_file"):
        value = inputs.get(key)
        if not isinstance(value, str) or not posixpath.isabs(value):
            failures.append(CheckFailure(key, f"must be an absolute path, got {value!r}"))
    if not (address_optional and inputs.get("address") is None) and \
            not _is_ipv4(str(inputs.get("address"))):
        failures.append(CheckFailure("address", f"must be an IPv4 address, got {inputs.get('address')!r}"))
    conn = inputs.get("connection")
    if conn is not None and (not isinstance(conn, dict) or not conn.get("host")):
        failures.append(CheckFailure("connection", "must be {host, port, user, private_key} or absent"))


def check_reservation(news: dict) -> tuple[dict, list[CheckFailure]]:
    inputs = dict(news)
    failures: list[CheckFailure] = []
    inputs["mac"] = str(inputs.get("mac", "")).lower().replace("-", ":")
    if not MAC.match(inputs["mac"]):
        failures.append(CheckFailure("mac", f"must be a MAC like 52:54:00:12:34:56, got {news.get('mac')!r}"))
    if not LABEL.match(str(inputs.get("hostname", ""))):
        failures.append(CheckFailure("hostname", f"must be a DNS label, got {news.get('hostname')!r}"))
    _check_common(inputs, failures, "dhcp_hosts_dir", address_optional=True)
    return inputs, failures


def check_record(news: dict) -> tuple[dict, list[CheckFailure]]:
    inputs = dict(news)
    failures: list[CheckFailure] = []
    inputs["name"] = str(inputs.get("name", "")).lower().rstrip(".")
    if not DNS_NAME.match(inputs["name"]):
        failures.append(CheckFailure("name", f"must be a DNS name, got {news.get('name')!r}"))
    _check_common(inputs, failures, "hosts_dir")
    return inputs, failures


RESERVATION_IMMUTABLE = ("mac", "dhcp_hosts_dir", "connection")
RECORD_IMMUTABLE = ("name", "hosts_dir", "connection")


# ---------------------------------------------------------------- providers

class _FileProvider(MammatusProvider):
    """One file per resource, then SIGHUP. Subclasses say which file and how it looks."""
    outputs = ("lease", "path")
    target = ("host", "port")
    delete_before_replace = False

    immutable: tuple[str, ...] = ()

    def _path(self, props: dict) -> str: raise NotImplementedError
    def _content(self, props: dict) -> str: raise NotImplementedError
    def _parse(self, text: str) -> Optional[dict]: raise NotImplementedError
    def _observe(self, t, props: dict, found: dict) -> dict: return {}

    def _apply(self, props: dict) -> dict:
        with transport(props.get("connection")) as t:
            path = self._path(props)
            t.write(path, self._content(props))
            t.run(sighup_command(props["pid_file"]))
            return {**props, "path": path, **self._observe(t, props, props)}

    def create(self, props):
        outs = self._apply(props)
        return CreateResult(id_=outs["path"], outs=outs)

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._apply(news))

    def read(self, id_, props):
        with transport(props.get("connection")) as t:
            text = t.read(id_)
            found = self._parse(text) if text is not None else None
            if found is None:
                return ReadResult(None, {})
            state = {**props, **found, "path": id_, **self._observe(t, props, found)}
            inputs = {k: v for k, v in state.items() if k not in ("path", "lease")}
            return ReadResult(id_, state, inputs)

    def delete(self, id_, props):
        with transport(props.get("connection")) as t:
            t.remove(id_)
            t.run(sighup_command(props["pid_file"]))


class ReservationProvider(_FileProvider):
    immutable = RESERVATION_IMMUTABLE

    def check(self, _olds, news):
        inputs, failures = check_reservation(news)
        return CheckResult(inputs, failures)

    def _path(self, props):
        return reservation_path(props["dhcp_hosts_dir"], props["mac"])

    def _content(self, props):
        return reservation_line(props["mac"], props.get("address"), props["hostname"])

    def _parse(self, text):
        return parse_reservation(text)

    def _observe(self, t, props, found):
        lease_file = props.get("lease_file")
        text = t.read(lease_file) if lease_file else None
        lease = lease_for(parse_leases(text or ""), found["mac"])
        return {"lease": lease}


class RecordProvider(_FileProvider):
    immutable = RECORD_IMMUTABLE

    def check(self, _olds, news):
        inputs, failures = check_record(news)
        return CheckResult(inputs, failures)

    def _path(self, props):
        return record_path(props["hosts_dir"], props["name"])

    def _content(self, props):
        return record_line(props["name"], props["address"])

    def _parse(self, text):
        return parse_record(text)


def _secret_opts(opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
        additional_secret_outputs=["connection"]))


class DnsmasqReservation(pulumi.dynamic.Resource, module="mammatus", name="DnsmasqReservation"):
    """A DHCP reservation (MAC -> address, hostname) on the cloud's dnsmasq; with address None
    it names the MAC's client (DNS included) and leaves its address to the range."""
    mac: pulumi.Output[str]
    address: pulumi.Output[str]
    hostname: pulumi.Output[str]
    path: pulumi.Output[str]
    lease: pulumi.Output[Any]

    def __init__(self, name: str, mac: pulumi.Input[str], address: pulumi.Input[Optional[str]],
                 hostname: pulumi.Input[str], target: dict[str, Any],
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"mac": mac, "address": address, "hostname": hostname,
                 "connection": target.get("connection"), "dhcp_hosts_dir": target["dhcp_hosts_dir"],
                 "lease_file": target.get("lease_file"), "pid_file": target["pid_file"],
                 "path": None, "lease": None}
        super().__init__(ReservationProvider(), name, props, _secret_opts(opts))


class DnsmasqRecord(pulumi.dynamic.Resource, module="mammatus", name="DnsmasqRecord"):
    """A DNS A record (name -> address) on the cloud's dnsmasq."""
    name: pulumi.Output[str]
    address: pulumi.Output[str]
    path: pulumi.Output[str]

    def __init__(self, resource_name: str, name: pulumi.Input[str], address: pulumi.Input[str],
                 target: dict[str, Any], opts: Optional[pulumi.ResourceOptions] = None):
        props = {"name": name, "address": address, "connection": target.get("connection"),
                 "hosts_dir": target["hosts_dir"], "pid_file": target["pid_file"], "path": None}
        super().__init__(RecordProvider(), resource_name, props, _secret_opts(opts))
