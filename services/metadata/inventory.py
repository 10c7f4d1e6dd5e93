"""What the cloud knows about its instances: name, MACs, image, keys, user-data.

Two pluggable sources produce the same `Instance` records: a static inventory file (YAML, written
by the Pulumi Metadata component or by tests) and LXD's instance list (over its API socket).
Parsing is pure; the source classes only add caching and I/O.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class InventoryError(Exception):
    pass


@dataclass(frozen=True)
class Instance:
    name: str
    instance_id: str
    macs: tuple[str, ...]
    image: str = "debian-bookworm"
    instance_type: str = "lxd.container"
    host: str = ""
    ssh_keys: tuple[str, ...] = ()
    user_data: Optional[str] = None
    tags: tuple[tuple[str, str], ...] = ()
    # Part of the instance's identity as the cloud sees it: changes when it is recreated.
    uuid: str = ""
    # What is served to it alone, with a token, at /mammatus/v1/<kind>-credentials (server.py):
    # {kind: {field: value}}, e.g. `telemetry` its own InfluxDB write user (username,
    # password) for the Telegraf its vendor-data installs, `consul` its agent's secrets file.
    # Kept as sorted tuples: part of the instance's identity (the service's answer cache is
    # keyed by it), so new credentials are served at once.
    credentials: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = field(default=(), repr=False)
    source: str = field(default="", compare=False)

    def credential(self, kind: str) -> Optional[dict[str, str]]:
        """The fields of its `kind` credentials, None when it has none of that kind."""
        return next((dict(fields) for k, fields in self.credentials if k == kind), None)


def normalize_mac(mac: str) -> str:
    value = str(mac).strip().lower().replace("-", ":")
    if not MAC.match(value):
        raise InventoryError(f"not a MAC address: {mac!r}")
    return value


def derive_instance_id(name: str, uuid: str = "") -> str:
    # EC2-shaped and stable for the life of the instance; a recreated instance (new uuid) gets a
    # new id, so cloud-init treats it as a new instance.
    return "i-" + hashlib.sha256(f"{name}\0{uuid}".encode()).hexdigest()[:17]


def _user_data_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, dict):
        return "#cloud-config\n" + yaml.safe_dump(value, sort_keys=False)
    if isinstance(value, str):
        return value
    raise InventoryError("user_data must be a string or a mapping (cloud-config)")


def parse_inventory(text: str, origin: str = "<inventory>") -> list[Instance]:
    """The inventory file: `instances:` list of {name, macs, [id, image, type, host, ssh_keys,
    user_data, tags, uuid]}."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InventoryError(f"{origin}: not valid YAML: {exc}") from None
    items = raw.get("instances", []) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise InventoryError(f"{origin}: expected a mapping with an `instances` list")
    known = {"name", "macs", "id", "image", "type", "host", "ssh_keys", "user_data", "tags",
             "uuid", "credentials"}
    out = []
    for i, item in enumerate(items):
        where = f"{origin}: instances[{i}]"
        if not isinstance(item, dict):
            raise InventoryError(f"{where}: must be a mapping")
        extra = set(item) - known
        if extra:
            raise InventoryError(f"{where}: unknown keys {sorted(extra)}")
        name = str(item.get("name", ""))
        if not NAME.match(name):
            raise InventoryError(f"{where}: name must be a DNS label, got {name!r}")
        macs = item.get("macs") or []
        if not isinstance(macs, list) or not macs:
            raise InventoryError(f"{where}: macs must be a non-empty list")
        keys = item.get("ssh_keys") or []
        tags = item.get("tags") or {}
        if not isinstance(keys, list) or not isinstance(tags, dict):
            raise InventoryError(f"{where}: ssh_keys must be a list and tags a mapping")
        try:
            user_data = _user_data_text(item.get("user_data"))
            norm_macs = tuple(normalize_mac(m) for m in macs)
        except InventoryError as exc:
            raise InventoryError(f"{where}: {exc}") from None
        uuid = str(item.get("uuid", ""))
        credentials = _credentials(item.get("credentials"), where)
        out.append(Instance(
            name=name,
            instance_id=str(item.get("id") or derive_instance_id(name, uuid)),
            macs=norm_macs,
            image=str(item.get("image", "debian-bookworm")),
            instance_type=str(item.get("type", "lxd.container")),
            host=str(item.get("host", "")),
            ssh_keys=tuple(str(k).strip() for k in keys),
            user_data=user_data,
            tags=tuple(sorted((str(k), str(v)) for k, v in tags.items())),
            uuid=uuid,
            credentials=credentials,
            source=origin,
        ))
    return out


# The fields each kind of credentials must have (what the instance's installer reads).
CREDENTIAL_FIELDS = {"telemetry": {"username", "password"}, "consul": {"config"},
                     "vault": {"role", "role_id", "wrapped_secret_id"}}
# Kinds whose fields the cloud names: `iscsi` has one per volume the instance may log in to
# (a DNS label), its CHAP password for that volume's target.
NAMED_CREDENTIAL_FIELDS = {"iscsi": NAME}


def _credentials(raw: Any, where: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise InventoryError(f"{where}: credentials must be a mapping of kind -> fields")
    out = {}
    for kind, fields in raw.items():
        wanted = CREDENTIAL_FIELDS.get(kind)
        named = NAMED_CREDENTIAL_FIELDS.get(kind)
        if wanted is None and named is None:
            known = sorted({*CREDENTIAL_FIELDS, *NAMED_CREDENTIAL_FIELDS})
            raise InventoryError(f"{where}: credentials.{kind}: unknown kind "
                                 f"(known: {', '.join(known)})")
        strings = isinstance(fields, dict) and all(isinstance(v, str) and v
                                                   for v in fields.values())
        if named is not None:
            if not (strings and fields and all(named.match(str(k)) for k in fields)):
                raise InventoryError(f"{where}: credentials.{kind} must map names (DNS labels) "
                                     "to non-empty strings")
        elif not (strings and set(fields) == wanted):
            raise InventoryError(f"{where}: credentials.{kind} must be "
                                 f"{{{', '.join(sorted(wanted))}}}, each a non-empty string")
        out[kind] = tuple(sorted(fields.items()))
    return tuple(sorted(out.items()))


def instance_from_lxd(raw: dict) -> Optional[Instance]:
    """One item of LXD's `GET /1.0/instances?recursion=1`. None for instances without a NIC MAC.

    MACs come from the NIC devices (`hwaddr`) or LXD's `volatile.<nic>.hwaddr`, both set by the
    host, never from the instance's reported state (which the guest controls).
    """
    config = raw.get("expanded_config") or raw.get("config") or {}
    devices = raw.get("expanded_devices") or raw.get("devices") or {}
    macs = []
    for dev_name in sorted(devices):
        dev = devices[dev_name] or {}
        if dev.get("type") != "nic":
            continue
        mac = dev.get("hwaddr") or config.get(f"volatile.{dev_name}.hwaddr")
        if mac:
            macs.append(normalize_mac(mac))
    if not macs:
        return None
    keys = []
    for key in sorted(config):
        # LXD's cloud-init.ssh-keys.<name> = "<user>:<key>"; ours: user.mammatus.ssh-keys
        if key.startswith("cloud-init.ssh-keys."):
            value = config[key]
            keys.append(value.split(":", 1)[1] if not value.startswith("ssh-") and ":" in value
                        else value)
    keys += [k for k in config.get("user.mammatus.ssh-keys", "").splitlines() if k.strip()]
    user_data = config.get("cloud-init.user-data") or config.get("user.user-data")
    image = "-".join(p for p in (config.get("image.os", ""), config.get("image.release", ""))
                     if p).lower() or config.get("volatile.base_image", "")[:12] or "unknown"
    name = raw["name"]
    uuid = config.get("volatile.uuid", "")
    tags = {k[len("user.mammatus.tag."):]: v for k, v in config.items()
            if k.startswith("user.mammatus.tag.")}
    return Instance(
        name=name,
        instance_id=config.get("user.mammatus.instance-id") or derive_instance_id(name, uuid),
        macs=tuple(macs),
        image=image,
        instance_type=config.get("user.mammatus.size") or
        "lxd." + str(raw.get("type", "container")).replace("virtual-machine", "vm"),
        host=str(raw.get("location", "") if raw.get("location") not in (None, "none") else ""),
        ssh_keys=tuple(k.strip() for k in keys),
        user_data=user_data,
        tags=tuple(sorted(tags.items())),
        uuid=uuid,
        source="lxd",
    )


def instances_from_lxd(items: list[dict]) -> list[Instance]:
    return [i for i in (instance_from_lxd(raw) for raw in items) if i is not None]


class FileInventorySource:
    """Re-reads the file when its mtime/size change: edits take effect without a restart."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp = None
        self._instances: list[Instance] = []

    def get(self, force: bool = False) -> list[Instance]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            # A missing inventory means "no instances", never stale ones.
            self._stamp, self._instances = None, []
            return []
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._instances = parse_inventory(self.path.read_text(), str(self.path))
            self._stamp = stamp
        return self._instances


class LxdInventorySource:
    """LXD's instance list via pylxd, cached for refresh_seconds (the call is blocking and slow)."""

    def __init__(self, endpoint: Optional[str], project: str = "default",
                 refresh_seconds: float = 5.0, clock=time.monotonic):
        self.endpoint, self.project, self.refresh_seconds = endpoint, project, refresh_seconds
        self._clock = clock
        self._fetched_at: Optional[float] = None
        self._instances: list[Instance] = []
        self._client = None

    def _fetch_raw(self) -> list[dict]:
        import pylxd  # only needed when an LXD source is configured
        if self._client is None:
            self._client = pylxd.Client(endpoint=self.endpoint, project=self.project)
        response = self._client.api.instances.get(params={"recursion": 1})
        return response.json()["metadata"]

    def stale(self) -> bool:
        return (self._fetched_at is None or
                self._clock() - self._fetched_at >= self.refresh_seconds)

    def get(self, force: bool = False) -> list[Instance]:
        now = self._clock()
        fresh = self._fetched_at is not None and now - self._fetched_at < self.refresh_seconds
        # Even forced refreshes are limited to one a second, so unknown sources cannot hammer LXD.
        if fresh and not (force and now - self._fetched_at >= 1.0):
            return self._instances
        try:
            raw = self._fetch_raw()
        except Exception as exc:  # noqa: BLE001 - pylxd raises several kinds; all mean "LXD did not answer"
            self._client = None
            raise InventoryError(f"LXD at {self.endpoint or 'default socket'}: {exc}") from None
        self._instances = instances_from_lxd(raw)
        self._fetched_at = now
        return self._instances
