"""The metadata service's configuration file (YAML), validated with pydantic.

Secrets (the token key, proxy keys) are never inline: the file names them by path, so the config
can be logged, diffed and committed. See docs/metadata.md for the whole format.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cloud(Model):
    name: str = "mammatus"
    domain: str = "mammatus"
    region: str = "home"
    availability_zone: str = "home-a"
    account_id: str = "000000000000"
    # Optional: advertised as subnet-ipv4-cidr-block / used in network configs.
    subnet: Optional[ipaddress.IPv4Network] = None


class Tokens(Model):
    # true: every GET about an instance (all layouts: EC2, NoCloud, OpenStack) needs a valid IMDSv2
    # token, else 401, as AWS with HttpTokens=required. Only clients that PUT /latest/api/token
    # first can then read anything: AWS SDKs, and cloud-init's Ec2 datasource only where it
    # believes it runs on AWS. NoCloud (what this cloud's images use: seedfrom, see
    # dynamic_providers/rootfs_image.py) and OpenStack never send a token, so the deployment
    # leaves this off; turn it on only for images whose cloud-init does IMDSv2 (docs/metadata.md).
    required: bool = False
    # HMAC key shared by all replicas, so a token minted by one is accepted by the others.
    # Without it each process makes a random key (fine for one replica, not for several).
    secret_file: Optional[Path] = None
    # IP TTL of the token PUT's response (AWS's HttpPutResponseHopLimit): 1 = the token reaches a
    # caller on the service's own link only, not one behind a router, a NAT or a container bridge.
    hop_limit: int = Field(1, ge=1, le=64)


class FileInventory(Model):
    type: Literal["file"]
    path: Path


class LxdInventory(Model):
    type: Literal["lxd"]
    # Unix socket path (or https URL) of the LXD API; None: pylxd's default socket.
    endpoint: Optional[str] = None
    project: str = "default"
    # LXD is asked again at most this often; a MAC we do not know triggers an early refresh.
    refresh_seconds: float = Field(5.0, ge=0)


Inventory = Annotated[Union[FileInventory, LxdInventory], Field(discriminator="type")]


class Proxy(Model):
    """A relay (e.g. on another network's gateway) allowed to forward requests.

    It must send X-Forwarded-For and X-Mammatus-Forwarded-Signature = hex HMAC-SHA256 of the
    forwarded address under this key, the way Neutron signs instance IDs for Nova (CVE-2013-6419).
    """
    address: ipaddress.IPv4Address
    secret_file: Path


class LeasePush(Model):
    """Leases sent by the DHCP server's host when it is not this one (services/metadata/
    lease_push.py): a listener of its own, the shared key (by path), where they are kept."""
    listen: str
    secret_file: Path
    state_file: Path

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        return value


class Identity(Model):
    # dnsmasq lease files: the IP <-> MAC bindings the cloud's DHCP server handed out.
    leases: list[Path] = []
    # ... or, with the DHCP server on another host, the leases it pushes here.
    lease_push: Optional[LeasePush] = None
    inventories: list[Inventory] = []
    proxies: list[Proxy] = []
    # Also require the kernel's ARP entry for the source IP to show the leased MAC, so taking an
    # instance's address (gratuitous ARP) is not enough. On by default: the service answers on
    # 169.254.169.254 on a LAN port, on the instances' L2. Routed peers have no entry and are
    # refused: turn it off only where callers are not on the service's link (loopback tests).
    neighbour_check: bool = True
    neighbour_table: Path = Path("/proc/net/arp")


class Pinned(Model):
    """Where an instance downloads an agent (the cloud's artifact server) and the build's
    digest: the agents script installs it and refuses a file with another sha256. Without them
    an image that carries the agent is configured, and one without is left alone."""
    artifact_url: Optional[str] = Field(None, pattern=r"^https?://[^\s]+$")
    sha256: Optional[str] = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _pinned(self):
        if (self.artifact_url is None) != (self.sha256 is None):
            raise ValueError("artifact_url and sha256 go together")
        return self


class Consul(Pinned):
    # The agent config the cloud's Consul layer rendered (components/render/consul.py
    # agent_config); the service adds each instance's node name and metadata.
    agent: dict
    # Whether each instance has its agent's secrets (gossip key, token) in the inventory,
    # fetched by the instance from /mammatus/v1/consul-credentials at boot.
    credentials: bool = False

    @field_validator("agent")
    @classmethod
    def _agent(cls, agent: dict) -> dict:
        join = agent.get("retry_join")
        if not (isinstance(join, list) and join and all(isinstance(j, str) for j in join)):
            raise ValueError("agent.retry_join must name the Consul servers")
        if agent.get("server"):
            raise ValueError("an instance's agent is not a server")
        return agent


class InstanceFile(Model):
    path: str = Field(pattern=r"^/[^\s]+$")
    content: str
    mode: str = Field("0644", pattern=r"^0[0-7]{3}$")


class VaultCredentialPaths(Model):
    role_id: str = Field(pattern=r"^/[^\s]+$")
    wrapped_secret_id: str = Field(pattern=r"^/[^\s]+$")
    mode: str = Field("0600", pattern=r"^0[0-7]00$")   # the instance's root alone


class Vault(Model):
    """Vault Agent in instances (AppRole, components/render/vault.py renders it): the files for
    each role (agent config, unit, the cloud's root; nothing secret), and where the instance's
    role-id and response-wrapped secret-id go once fetched from
    /mammatus/v1/vault-credentials. Only an instance with `vault` credentials in the inventory
    (its role) gets an agent."""
    address: str
    ca_cert: Optional[str] = None       # path inside the instance
    auth_mount: str = "approle"          # agent auto-auth method mount
    files: dict[str, list[InstanceFile]] = {}
    credential_paths: Optional[VaultCredentialPaths] = None
    credentials: bool = False

    @model_validator(mode="after")
    def _complete(self):
        if self.credentials and self.credential_paths is None:
            raise ValueError("credentials need credential_paths")
        return self


class Telegraf(Pinned):
    influxdb_urls: list[str] = Field(min_length=1)
    database: str = "telegraf"
    retention_policy: Optional[str] = None
    interval: str = "10s"
    # Whether each instance writes as its own InfluxDB user (inventory credentials
    # `telemetry`), fetched by the instance from /mammatus/v1/telemetry-credentials at boot.
    credentials: bool = False


IQN = r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+:[A-Za-z0-9.:_@-]+$"
NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class IscsiNode(Model):
    """One target an instance logs in to (open-iscsi's node record for it): its portal, CHAP
    with `username`; the password is field `volume` of the instance's `iscsi` credentials,
    fetched from /mammatus/v1/iscsi-credentials, never here."""
    volume: str = Field(pattern=NAME)
    target: str = Field(pattern=IQN)
    address: ipaddress.IPv4Address
    port: int = Field(3260, ge=1, le=65535)
    username: str = Field(pattern=r"^[A-Za-z0-9.:_@-]{1,255}$")


class IscsiInitiator(Model):
    name: str = Field(pattern=IQN)       # its InitiatorName (/etc/iscsi/initiatorname.iscsi)
    nodes: list[IscsiNode] = Field(min_length=1)

    @field_validator("nodes")
    @classmethod
    def _one_record_each(cls, nodes: list[IscsiNode]) -> list[IscsiNode]:
        volumes = [n.volume for n in nodes]
        if len(set(volumes)) != len(volumes):
            raise ValueError(f"a volume is named twice: {volumes}")
        return nodes


class Iscsi(Model):
    """open-iscsi in instances (the BlockStorage layer's volumes): per instance, by name, its
    initiator IQN and a node record per volume it may log in to. `credentials`: each instance
    has its CHAP passwords in the inventory (`iscsi`, one field per volume)."""
    initiators: dict[str, IscsiInitiator] = {}
    credentials: bool = False


class VendorData(Model):
    consul: Optional[Consul] = None
    vault: Optional[Vault] = None
    telegraf: Optional[Telegraf] = None
    iscsi: Optional[Iscsi] = None
    # The cloud's root CA (public, so inline): trusted by instances, and Vault Agent's ca_cert.
    ca_cert_pem: Optional[str] = None

    @field_validator("ca_cert_pem")
    @classmethod
    def _pem(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError("must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
        return value


# The longest a wait_for_change request may wait, whatever the config says.
LONG_POLL_MAX_SECONDS = 300


class LongPoll(Model):
    max_timeout_seconds: float = Field(LONG_POLL_MAX_SECONDS, gt=0, le=LONG_POLL_MAX_SECONDS)
    interval_seconds: float = Field(1.0, gt=0)


class Limits(Model):
    """What one caller may hold at once, per service process. The caller is the TCP peer's
    address for connections (a configured relay is not counted: it speaks for many instances) and
    the proven instance address for long polls. Over a cap: 429 Too Many Requests."""
    connections_per_caller: int = Field(32, ge=1)
    long_polls_per_caller: int = Field(4, ge=1)
    # A connection waiting for its (next) request longer than this is closed.
    idle_timeout_seconds: float = Field(10.0, gt=0)


class IdentitySigning(Model):
    """The RSA key and its certificate (issued by the cloud's CA) that sign the instance
    identity document (services/metadata/signing.py). Without them only the document is served."""
    key_file: Path
    cert_file: Path


class Config(Model):
    listen: Optional[str] = None
    identity_signing: Optional[IdentitySigning] = None
    cloud: Cloud = Cloud()
    tokens: Tokens = Tokens()
    identity: Identity = Identity()
    vendor_data: VendorData = VendorData()
    long_poll: LongPoll = LongPoll()
    limits: Limits = Limits()


class ConfigError(Exception):
    pass


def parse_config(text: str, origin: str = "<config>") -> Config:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: must be a YAML mapping")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{origin}: {problems}") from None


def load_config(path: Path) -> Config:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    return parse_config(text, str(path))
