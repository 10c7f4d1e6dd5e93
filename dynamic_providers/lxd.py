"""LXD profiles, images and instances as resources, through LXD's REST API with pylxd.

Seed design: LXD on every compute host; instances sit on the LAN through the macvlan profile
(components/render/lxd_profiles.py) and get their address from the cloud's DHCP server.

Where LXD is reached (`connection`):
- `{"endpoint": "https://10.0.0.11:8443", "client_cert": PEM, "client_key": PEM,
  "server_cert": PEM}` — LXD's HTTPS API on a compute host; the client certificate is trusted by
  the host (`lxc config trust add`, done by the Compute component, which also reads the host's
  self-signed server certificate back). The server is pinned by that certificate's fingerprint
  (pylxd's LXDSSLAdapter; LXD's certificate names no IP address, so hostname checks cannot
  work). Without `server_cert` the server is not verified. The requests session ignores
  REQUESTS_CA_BUNDLE & co., which would otherwise override the pin (a requests quirk).
- `{"socket": "/var/lib/lxd/unix.socket"}` — the local daemon (the dev stack, the tests).

Pure request builders (`profile_body`, `instance_body`, `instance_config`, `image_pull_body`,
`state_body`) and answer parsers (`parse_profile`, `parse_instance`, `parse_image`) are apart
from the client, which is built inside each call (the provider is pickled with dill). check and
diff never connect, so an offline preview works.

Limits from the spec's size: `limits.cpu`, `limits.memory` (MiB) and the root disk's `size`
(applied by pools that support quotas; the dir driver ignores it on filesystems without project
quotas). User-data goes into `user.user-data` (the key LXD 5.0 passes to cloud-init's LXD
datasource; newer LXD also reads it). cloud-init applies user-data on first boot only, so an
update changes the instance's config but not an already booted system.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.preview import known_failures
from dynamic_providers.base import MammatusProvider



DEFAULT_SOCKET = "/var/lib/lxd/unix.socket"
DEFAULT_IMAGE_SERVER = "https://images.linuxcontainers.org"


# ---------------------------------------------------------------- pure request builders

def profile_body(name: str, config: dict, devices: dict, description: str = "") -> dict:
    """POST /1.0/profiles body (PUT takes the same without `name`)."""
    return {"name": name, "description": description,
            "config": {k: str(v) for k, v in (config or {}).items()},
            "devices": {dev: {k: str(v) for k, v in spec.items()}
                        for dev, spec in (devices or {}).items()}}


def instance_config(size: dict, user_data: Optional[str] = None, mac: Optional[str] = None,
                    nic: str = "eth0", extra: Optional[dict] = None) -> dict:
    """The instance's `config` map: limits from the size, cloud-init user-data, a fixed MAC."""
    config = {
        "limits.cpu": str(int(size.get("cpus", 1))),
        "limits.memory": f"{int(size.get('memory_mb', 512))}MiB",
    }
    if user_data:
        config["user.user-data"] = user_data
    if mac:
        # Honoured at creation by every NIC type, macvlan included (the reservation's MAC).
        config[f"volatile.{nic}.hwaddr"] = mac.lower()
    for key, value in (extra or {}).items():
        config[key] = str(value)
    return config


def root_disk(size: dict, pool: str = "default") -> dict:
    return {"type": "disk", "path": "/", "pool": pool, "size": f"{int(size.get('disk_gb', 4))}GiB"}


def instance_body(props: dict) -> dict:
    """POST /1.0/instances body of a container from an image alias (local to the daemon)."""
    size = props.get("size") or {}
    devices = {"root": root_disk(size, props.get("pool") or "default")}
    devices.update(props.get("devices") or {})
    return {
        "name": props["name"],
        "type": "container",
        "source": {"type": "image", "alias": props["image"]},
        "profiles": list(props.get("profiles") or ["default"]),
        "config": instance_config(size, props.get("user_data"), props.get("mac"),
                                  extra=props.get("config")),
        "devices": devices,
    }


def instance_update_body(props: dict) -> dict:
    """PATCH /1.0/instances/<name> body: what can change on an existing instance."""
    body = instance_body(props)
    config = dict(body["config"])
    config.pop("volatile.eth0.hwaddr", None)  # the MAC is fixed at creation (a replace)
    return {"profiles": body["profiles"], "config": config, "devices": body["devices"]}


def image_pull_body(alias: str, server: str = DEFAULT_IMAGE_SERVER, remote_alias: str = "",
                    protocol: str = "simplestreams", auto_update: bool = True) -> dict:
    """POST /1.0/images body copying an image from an image server (e.g. debian/12/cloud)."""
    return {
        "public": False,
        "auto_update": auto_update,
        "aliases": [{"name": alias}],
        "source": {"type": "image", "mode": "pull", "server": server, "protocol": protocol,
                   "alias": remote_alias or alias},
    }


def state_body(action: str, timeout: int = 30, force: bool = False) -> dict:
    """PUT /1.0/instances/<name>/state body."""
    if action not in ("start", "stop", "restart", "freeze", "unfreeze"):
        raise ValueError(f"unknown instance action {action!r}")
    return {"action": action, "timeout": timeout, "force": force, "stateful": False}


# ---------------------------------------------------------------- pure answer parsers

def parse_profile(metadata: dict) -> dict:
    """{name, description, config, devices} from GET /1.0/profiles/<name>'s metadata."""
    return {"name": metadata["name"], "description": metadata.get("description", ""),
            "config": dict(metadata.get("config") or {}),
            "devices": {k: dict(v) for k, v in (metadata.get("devices") or {}).items()}}


def parse_instance(metadata: dict, state: Optional[dict] = None, nic: str = "eth0") -> dict:
    """What the cloud wants to know about an instance, from GET /1.0/instances/<name> and
    GET /1.0/instances/<name>/state: status, IPv4/IPv6 addresses of its NICs, its MAC."""
    state = state or {}
    network = state.get("network") or {}
    ipv4, ipv6 = [], []
    for name, iface in sorted(network.items()):
        if iface.get("type") == "loopback" or name == "lo":
            continue
        for addr in iface.get("addresses") or []:
            if addr.get("scope") != "global":
                continue
            (ipv4 if addr.get("family") == "inet" else ipv6).append(addr["address"])
    config = metadata.get("expanded_config") or metadata.get("config") or {}
    mac = (network.get(nic) or {}).get("hwaddr") or config.get(f"volatile.{nic}.hwaddr")
    return {
        "status": state.get("status") or metadata.get("status") or "Unknown",
        "ipv4": ipv4,
        "ipv6": ipv6,
        "mac": mac.lower() if mac else None,
        "profiles": list(metadata.get("profiles") or []),
        "limits": {k: v for k, v in (metadata.get("config") or {}).items() if k.startswith("limits.")},
        "user_data": (metadata.get("config") or {}).get("user.user-data"),
        "architecture": metadata.get("architecture"),
    }


def parse_image(metadata: dict) -> dict:
    return {"fingerprint": metadata["fingerprint"],
            "aliases": sorted(a["name"] for a in metadata.get("aliases") or []),
            "architecture": metadata.get("architecture"),
            "size": metadata.get("size")}


# ---------------------------------------------------------------- checks and diffs

def _check_connection(conn, failures: list) -> None:
    if conn is None:
        return
    if not isinstance(conn, dict) or not (conn.get("socket") or conn.get("endpoint")):
        failures.append(CheckFailure("connection", "must be {socket} or {endpoint, client_cert, client_key}"))
    elif conn.get("endpoint") and not str(conn["endpoint"]).startswith("https://"):
        failures.append(CheckFailure("connection", f"endpoint must be https://…, got {conn['endpoint']!r}"))


def check_profile(news: dict) -> list:
    failures: list = []
    if not news.get("name"):
        failures.append(CheckFailure("name", "a profile needs a name"))
    for dev, spec in (news.get("devices") or {}).items():
        if not isinstance(spec, dict) or "type" not in spec:
            failures.append(CheckFailure("devices", f"device {dev!r} needs a type"))
        elif spec.get("nictype") == "macvlan" and not spec.get("parent"):
            failures.append(CheckFailure("devices", f"macvlan NIC {dev!r} needs a parent interface"))
    _check_connection(news.get("connection"), failures)
    return failures


def check_instance(news: dict) -> list:
    failures: list = []
    for key in ("name", "image"):
        if not news.get(key):
            failures.append(CheckFailure(key, f"an instance needs {key}"))
    size = news.get("size") or {}
    if int(size.get("cpus", 1)) < 1 or int(size.get("memory_mb", 512)) < 64:
        failures.append(CheckFailure("size", f"needs cpus >= 1 and memory_mb >= 64, got {size}"))
    user_data = news.get("user_data")
    if user_data and not str(user_data).startswith("#cloud-config"):
        failures.append(CheckFailure("user_data", "must be a #cloud-config document"))
    _check_connection(news.get("connection"), failures)
    return failures


def check_image(news: dict) -> list:
    failures: list = []
    if not news.get("alias"):
        failures.append(CheckFailure("alias", "an image needs an alias"))
    source = news.get("source") or {}
    if not (source.get("server") or source.get("path")):
        failures.append(CheckFailure("source", "needs {server, alias} or {path} (a unified tarball)"))
    _check_connection(news.get("connection"), failures)
    return failures


def _conn_identity(props: dict):
    conn = props.get("connection") or {}
    return conn.get("endpoint") or conn.get("socket") or DEFAULT_SOCKET


OUTPUT_KEYS = ("status", "ipv4", "ipv6", "mac_address", "fingerprint", "architecture")


PROFILE_IMMUTABLE = ("name", "connection")
INSTANCE_IMMUTABLE = ("name", "image", "mac", "pool", "connection")
IMAGE_IMMUTABLE = ("alias", "source", "connection")


# ---------------------------------------------------------------- client (built per call)

class _Client:
    """A pylxd client for one connection, with its certificate files cleaned up after use."""

    def __init__(self, connection: Optional[dict]):
        import pylxd
        conn = connection or {}
        self._tmp = None
        if conn.get("endpoint"):
            cert = None
            if conn.get("client_cert"):
                self._tmp = tempfile.TemporaryDirectory(prefix="mammatus-lxd-")
                crt, key = (os.path.join(self._tmp.name, n) for n in ("client.crt", "client.key"))
                with open(crt, "w") as f:
                    f.write(conn["client_cert"])
                # 0600 from its first byte (the directory is 0700 too: mkdtemp).
                with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                    f.write(conn["client_key"])
                cert = (crt, key)
            verify = False
            if conn.get("server_cert"):
                self._tmp = self._tmp or tempfile.TemporaryDirectory(prefix="mammatus-lxd-")
                verify = os.path.join(self._tmp.name, "server.crt")
                with open(verify, "w") as f:
                    f.write(conn["server_cert"])
            endpoint = conn["endpoint"].rstrip("/")
            session = pylxd.client.get_session_for_url(endpoint, verify=verify, cert=cert)
            session.trust_env = False   # else REQUESTS_CA_BUNDLE replaces the pinned certificate
            self.client = pylxd.Client(endpoint=endpoint, cert=cert, verify=verify, session=session)
        else:
            self.client = pylxd.Client(endpoint=conn.get("socket") or DEFAULT_SOCKET)

    def __enter__(self):
        return self.client

    def __exit__(self, *exc):
        if self._tmp:
            self._tmp.cleanup()


# ---------------------------------------------------------------- providers

class _LxdProvider(MammatusProvider):
    """What LXD's resources share: LXD reports some fields itself, and the daemon a resource
    lives on is its endpoint (or socket)."""
    outputs = OUTPUT_KEYS
    target = ("endpoint", "socket")
    connection_updates = False  # a new client certificate redoes nothing

    def target_of(self, connection):
        return _conn_identity({"connection": connection})


class ProfileProvider(_LxdProvider):
    immutable = PROFILE_IMMUTABLE

    def check(self, _olds, news):
        return CheckResult(news, known_failures(news, check_profile(news)))

    def create(self, props):
        body = profile_body(props["name"], props.get("config"), props.get("devices"),
                            props.get("description", ""))
        with _Client(props.get("connection")) as client:
            client.api.profiles.post(json=body)
        return CreateResult(id_=props["name"], outs=dict(props))

    def update(self, id_, _olds, news):
        body = profile_body(id_, news.get("config"), news.get("devices"), news.get("description", ""))
        del body["name"]
        with _Client(news.get("connection")) as client:
            client.api.profiles[id_].put(json=body)
        return UpdateResult(outs=dict(news))

    def read(self, id_, props):
        from pylxd.exceptions import NotFound
        with _Client(props.get("connection")) as client:
            try:
                metadata = client.api.profiles[id_].get().json()["metadata"]
            except NotFound:
                return ReadResult(None, {})
        found = parse_profile(metadata)
        state = {**props, **found}
        return ReadResult(id_, state, state)

    def delete(self, id_, props):
        from pylxd.exceptions import NotFound
        with _Client(props.get("connection")) as client:
            try:
                client.api.profiles[id_].delete()
            except NotFound:
                pass


class ImageProvider(_LxdProvider):
    """An image with a local alias: pulled from an image server, or uploaded from a unified
    tarball (metadata.yaml + rootfs/) on the machine running Pulumi."""
    immutable = IMAGE_IMMUTABLE

    def check(self, _olds, news):
        return CheckResult(news, known_failures(news, check_image(news)))

    def _observe(self, client, alias: str) -> Optional[dict]:
        from pylxd.exceptions import NotFound
        try:
            target = client.api.images.aliases[alias].get().json()["metadata"]["target"]
            return parse_image(client.api.images[target].get().json()["metadata"])
        except NotFound:
            return None

    @staticmethod
    def _upload(client, path: str, alias: str) -> None:
        """Uploads a unified tarball (its sha256 is LXD's fingerprint) unless LXD has it
        already, e.g. from an `up` that failed after the upload; then points the alias at it."""
        from pylxd.exceptions import NotFound
        from dynamic_providers.rootfs_image import sha256_of
        fingerprint = sha256_of(path)
        if client.images.exists(fingerprint):
            image = client.images.get(fingerprint)
        else:
            with open(path, "rb") as f:
                image = client.images.create(f, wait=True)
        try:
            target = client.api.images.aliases[alias].get().json()["metadata"]["target"]
        except NotFound:
            target = None
        if target != fingerprint:
            if target is not None:
                client.api.images.aliases[alias].delete()
            image.add_alias(alias, "")

    def create(self, props):
        source = props["source"]
        with _Client(props.get("connection")) as client:
            if source.get("path"):
                self._upload(client, source["path"], props["alias"])
            else:
                body = image_pull_body(props["alias"], source["server"], source.get("alias", ""),
                                       source.get("protocol", "simplestreams"))
                response = client.api.images.post(json=body)
                client.operations.wait_for_operation(response.json()["operation"])
            found = self._observe(client, props["alias"])
        if found is None:
            raise RuntimeError(f"image {props['alias']!r} is not there after its creation")
        outs = {**props, "fingerprint": found["fingerprint"], "architecture": found["architecture"]}
        return CreateResult(id_=found["fingerprint"], outs=outs)

    def update(self, _id, olds, news):
        return UpdateResult(outs={**news, "fingerprint": olds.get("fingerprint"),
                                  "architecture": olds.get("architecture")})

    def read(self, id_, props):
        with _Client(props.get("connection")) as client:
            found = self._observe(client, props["alias"])
        # auto_update may have moved the alias to a newer image: still this resource.
        if found is None:
            return ReadResult(None, {})
        state = {**props, "fingerprint": found["fingerprint"], "architecture": found["architecture"]}
        inputs = {k: v for k, v in state.items() if k not in OUTPUT_KEYS}
        return ReadResult(id_, state, inputs)

    def delete(self, id_, props):
        from pylxd.exceptions import NotFound
        with _Client(props.get("connection")) as client:
            found = self._observe(client, props["alias"]) if props.get("alias") else None
            current = [found["fingerprint"]] if found else []
            for fingerprint in dict.fromkeys(current + [id_]):
                try:
                    client.images.get(fingerprint).delete(wait=True)
                except NotFound:
                    pass


class InstanceProvider(_LxdProvider):
    """A container from a local image alias, running (or stopped: `running: false`)."""
    immutable = INSTANCE_IMMUTABLE

    def check(self, _olds, news):
        return CheckResult(news, known_failures(news, check_instance(news)))

    @staticmethod
    def _set_state(client, name: str, action: str, force: bool = False) -> None:
        response = client.api.instances[name].state.put(json=state_body(action, force=force))
        client.operations.wait_for_operation(response.json()["operation"])

    @staticmethod
    def _observe(client, name: str) -> Optional[dict]:
        from pylxd.exceptions import NotFound
        try:
            metadata = client.api.instances[name].get().json()["metadata"]
        except NotFound:
            return None
        state = client.api.instances[name].state.get().json()["metadata"]
        return parse_instance(metadata, state)

    @staticmethod
    def _outs(props: dict, found: dict) -> dict:
        return {**props, "status": found["status"], "ipv4": found["ipv4"], "ipv6": found["ipv6"],
                "mac_address": found["mac"]}

    def _stop(self, client, name: str) -> None:
        try:
            self._set_state(client, name, "stop")
        except Exception:  # noqa: BLE001 - an init that ignores SIGPWR: stop it hard
            self._set_state(client, name, "stop", force=True)

    def create(self, props):
        with _Client(props.get("connection")) as client:
            response = client.api.instances.post(json=instance_body(props))
            client.operations.wait_for_operation(response.json()["operation"])
            try:
                if props.get("running", True):
                    self._set_state(client, props["name"], "start")
                found = self._observe(client, props["name"])
                if props.get("running", True) and props.get("address_timeout"):
                    found = self._wait_for_address(client, props["name"], props["address_timeout"])
            except Exception:
                # A failed create leaves nothing behind (Pulumi records no state for it), so
                # the next `up` can create it again.
                self._remove(client, props["name"])
                raise
        return CreateResult(id_=props["name"], outs=self._outs(props, found))

    def _wait_for_address(self, client, name: str, timeout: float) -> dict:
        """The instance once its NIC has a global IPv4 (a DHCP lease on macvlan), so that
        `up` ends with instances that can be reached."""
        import time
        deadline = time.monotonic() + float(timeout)
        while True:
            found = self._observe(client, name)
            if found["ipv4"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if not found["ipv4"]:
            raise RuntimeError(f"instance {name!r} got no IPv4 address within {timeout} s "
                               f"(status {found['status']}): is a DHCP server on its network?")
        return found

    def _remove(self, client, name: str) -> None:
        found = self._observe(client, name)
        if found is None:
            return
        if found["status"] == "Running":
            self._stop(client, name)
        response = client.api.instances[name].delete()
        client.operations.wait_for_operation(response.json()["operation"])

    def update(self, id_, _olds, news):
        with _Client(news.get("connection")) as client:
            response = client.api.instances[id_].patch(json=instance_update_body(news))
            if response.json().get("type") == "async":
                client.operations.wait_for_operation(response.json()["operation"])
            status = self._observe(client, id_)["status"]
            if news.get("running", True) and status != "Running":
                self._set_state(client, id_, "start")
            elif not news.get("running", True) and status == "Running":
                self._stop(client, id_)
            found = self._observe(client, id_)
        return UpdateResult(outs=self._outs(news, found))

    def read(self, id_, props):
        with _Client(props.get("connection")) as client:
            found = self._observe(client, id_)
        if found is None:
            return ReadResult(None, {})
        state = self._outs(props, found)
        inputs = {k: v for k, v in state.items() if k not in OUTPUT_KEYS}
        if found["user_data"] is not None:
            inputs["user_data"] = found["user_data"]
        return ReadResult(id_, state, inputs)

    def delete(self, id_, props):
        with _Client(props.get("connection")) as client:
            self._remove(client, id_)


# ---------------------------------------------------------------- resources

def _opts(opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
    # An LXD object's name is its identity: a replacement (also `up --replace`, which asks no
    # diff) must delete the old one before it makes the new.
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
        additional_secret_outputs=["connection"], delete_before_replace=True))


class LxdProfile(pulumi.dynamic.Resource, module="mammatus", name="LxdProfile"):
    """An LXD profile (config + devices), e.g. the macvlan profile of a compute host."""
    name: pulumi.Output[str]
    devices: pulumi.Output[dict]

    def __init__(self, resource_name: str, name: pulumi.Input[str], config: pulumi.Input[dict],
                 devices: pulumi.Input[dict], connection: pulumi.Input[Optional[dict]] = None,
                 description: pulumi.Input[str] = "", opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(ProfileProvider(), resource_name,
                         {"name": name, "config": config, "devices": devices,
                          "description": description, "connection": connection}, _opts(opts))


class LxdImage(pulumi.dynamic.Resource, module="mammatus", name="LxdImage"):
    """An image under a local alias: {server, alias, protocol} pulls, {path} uploads a tarball."""
    alias: pulumi.Output[str]
    fingerprint: pulumi.Output[str]
    architecture: pulumi.Output[str]

    def __init__(self, resource_name: str, alias: pulumi.Input[str], source: pulumi.Input[dict],
                 connection: pulumi.Input[Optional[dict]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(ImageProvider(), resource_name,
                         {"alias": alias, "source": source, "connection": connection,
                          "fingerprint": None, "architecture": None}, _opts(opts))


class LxdInstance(pulumi.dynamic.Resource, module="mammatus", name="LxdInstance"):
    """A container: image alias, profiles, size limits, cloud-init user-data, optional MAC."""
    name: pulumi.Output[str]
    status: pulumi.Output[str]
    ipv4: pulumi.Output[list]
    ipv6: pulumi.Output[list]
    mac_address: pulumi.Output[Optional[str]]

    def __init__(self, resource_name: str, name: pulumi.Input[str], image: pulumi.Input[str],
                 size: pulumi.Input[dict], profiles: pulumi.Input[list],
                 user_data: pulumi.Input[Optional[str]] = None, mac: pulumi.Input[Optional[str]] = None,
                 connection: pulumi.Input[Optional[dict]] = None, pool: str = "default",
                 running: bool = True, config: Optional[dict] = None,
                 address_timeout: Optional[float] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(InstanceProvider(), resource_name,
                         {"name": name, "image": image, "size": size, "profiles": profiles,
                          "user_data": user_data, "mac": mac, "connection": connection,
                          "pool": pool, "running": running, "config": config or {},
                          "address_timeout": address_timeout,
                          "status": None, "ipv4": None, "ipv6": None, "mac_address": None},
                         _opts(opts))
