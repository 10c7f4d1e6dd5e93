"""Typed specification of one Mammatus cloud (one Pulumi stack).

Field names are the stack config keys without the `mammatus:` namespace, in camelCase as they are
written in `Pulumi.<stack>.yaml` (`mammatus:network: {lanSubnet: …}`); Python code uses the
snake_case attribute names. Field-level checks live on the models; checks that need the whole
cloud (addresses inside subnets, placements on existing hosts, duplicates) are in
`stacks.checks`, so each message can name the exact key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from enum import Enum
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

# The connector's cron parser (stdlib only), so a schedule the connector would refuse fails here.
from services.functions import cron


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True,
                              alias_generator=to_camel)


NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"  # DNS label: hosts, instances, volumes …
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class Arch(str, Enum):
    amd64 = "amd64"
    arm64 = "arm64"


class Role(str, Enum):
    gateway = "gateway"      # routes WAN <-> LAN, NAT, firewall, DHCP/DNS/TFTP, ntopng
    control = "control"      # CA, NATS, metadata, SNS/SQS, Consul/Vault servers, monitoring
    compute = "compute"      # LXD
    storage = "storage"      # LIO iSCSI targets, MinIO


class Host(Model):
    name: str = Field(pattern=NAME)
    address: ipaddress.IPv4Address
    ssh_user: str = "root"
    ssh_port: int = Field(22, ge=1, le=65535)
    arch: Arch = Arch.amd64
    roles: list[Role] = Field(min_length=1)
    # The host's LAN port: the parent of compute hosts' macvlan NICs (mammatus:network:Networking).
    lan_interface: str = Field("eth0", pattern=r"^[A-Za-z0-9_.:-]{1,15}$")
    # The host's SSH public host key ("ssh-ed25519 AAAA…", as in known_hosts): when given,
    # every connection checks it and refuses another. Without it the key is pinned on first use
    # (dynamic_providers/host_key.py). The dev stack pins the keys it generates.
    host_key: Optional[str] = Field(
        None, pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*( \S.*)?$")


class Gateway(Model):
    host: str
    wan_interface: str = "eth0"
    lan_interface: str = "eth1"
    # The LAN address of the gateway: router, DNS server and TFTP server for the LAN.
    lan_address: ipaddress.IPv4Address


class DhcpRange(Model):
    start: ipaddress.IPv4Address
    end: ipaddress.IPv4Address
    lease_time: str = Field("12h", pattern=r"^(infinite|\d+[smhd]?)$")


class Reservation(Model):
    mac: str
    address: ipaddress.IPv4Address
    hostname: str = Field(pattern=NAME)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        value = value.lower().replace("-", ":")
        if not MAC.match(value):
            raise ValueError(f"must be a MAC address like 52:54:00:12:34:56, got {value!r}")
        return value


class DnsRecord(Model):
    name: str
    address: ipaddress.IPv4Address


# A path below the TFTP root: no leading "/", nothing dnsmasq or iPXE would split on (no
# ".." either: Pxe._tftp_path).
TFTP_PATH = r"^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$"


class PxeMachine(Model):
    """A machine the cloud installs over the network: when its MAC asks, the iPXE script
    Mammatus renders (components/render/ipxe.py) boots Debian 12's installer (netboot, amd64)
    with this machine's preseed."""
    mac: str
    name: str = Field(pattern=NAME)
    # The installer's preseed file (debian-installer's `url=`, fetched once the installer has
    # its network); without one the installer asks its questions on the console.
    preseed: Optional[str] = Field(None, pattern=r"^(https?|ftp|tftp)://[^\s${}]+$")
    # More kernel command line after Mammatus' own (e.g. console=ttyS0,115200n8): one line
    # of printable ASCII, without "${" (iPXE would expand it).
    kernel_args: str = Field("", pattern=r"^[ -~]*$")

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        return Reservation._mac(value)

    @field_validator("kernel_args")
    @classmethod
    def _no_expansion(cls, value: str) -> str:
        if "${" in value:
            raise ValueError("must not hold ${: iPXE would expand it")
        return value.strip()


class Pxe(Model):
    enabled: bool = True
    # Served read-only over TFTP from tftp_root; each firmware is offered its own file of it
    # (dnsmasq tells them apart by DHCP option 93): BIOS and x86-64 UEFI iPXE (Debian's ipxe:
    # undionly.kpxe, ipxe.efi, snponly.efi), ARM64 UEFI Debian's signed shim for arm64
    # (debian-installer-12-netboot-arm64: bookworm ships no iPXE for arm64), which boots
    # Debian's arm64 installer through GRUB. The installers' trees are under debian-installer/,
    # their shims and GRUBs also at the top (bootnetx64.efi, grubx64.efi, …aa64.efi).
    tftp_root: str = "/srv/tftp"
    bios_boot_file: str = Field("undionly.kpxe", pattern=TFTP_PATH)
    efi_boot_file: str = Field("ipxe.efi", pattern=TFTP_PATH)
    efi_arm64_boot_file: str = Field("bootnetaa64.efi", pattern=TFTP_PATH)
    # Once iPXE runs, it chains to this script. By default Mammatus' own (mammatus.ipxe in
    # tftp_root, components/render/ipxe.py), which boots `machines`; a URL here replaces it.
    ipxe_script: Optional[str] = None
    machines: list[PxeMachine] = []

    @property
    def installs(self) -> bool:
        """Whether the cloud installs machines over the network: Debian's netboot installers
        (260 MB) go to the DNS host only then, and with them the ARM64 UEFI loader."""
        return self.enabled and bool(self.machines)

    @field_validator("bios_boot_file", "efi_boot_file", "efi_arm64_boot_file")
    @classmethod
    def _tftp_path(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError(f"must be a path below tftpRoot, got {value!r}")
        return value


class Network(Model):
    domain: str = Field("mammatus", pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
    lan_subnet: ipaddress.IPv4Network
    dhcp_range: DhcpRange
    upstream_dns: list[ipaddress.IPv4Address] = Field(
        default_factory=lambda: [ipaddress.IPv4Address("1.1.1.1")], min_length=1)
    reservations: list[Reservation] = []
    records: list[DnsRecord] = []
    pxe: Pxe = Pxe()

    @field_validator("lan_subnet", mode="before")
    @classmethod
    def _strict_subnet(cls, value):
        try:
            return ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"must be an IPv4 network like 10.0.0.0/24 ({exc})") from None


class FirewallRule(Model):
    name: str = Field(pattern=NAME)
    # input: to the gateway itself; forward: through it (LAN <-> WAN).
    chain: Literal["input", "forward"] = "input"
    from_zone: Literal["wan", "lan", "any"] = "wan"
    protocol: Literal["tcp", "udp", "icmp"] = "tcp"
    ports: list[int] = []
    source: Optional[ipaddress.IPv4Network] = None
    destination: Optional[ipaddress.IPv4Network] = None
    action: Literal["accept", "drop", "reject"] = "accept"

    @field_validator("ports")
    @classmethod
    def _ports(cls, ports: list[int]) -> list[int]:
        bad = [p for p in ports if not 1 <= p <= 65535]
        if bad:
            raise ValueError(f"ports must be 1-65535, got {bad}")
        return ports


class Size(Model):
    cpus: int = Field(1, ge=1, le=256)
    memory_mb: int = Field(512, ge=64)
    disk_gb: int = Field(4, ge=1)


class Instance(Model):
    name: str = Field(pattern=NAME)
    host: str
    image: str = "debian-bookworm"
    profile: str = "macvlan"
    size: Size = Size()
    mac: Optional[str] = None
    user_data: dict = {}
    # Consul services the instance registers (its user-data's /etc/consul.d/*.json): its agent
    # token may register these names, and no other.
    consul_services: list[str] = []
    # The Vault AppRole (a key of mammatus:vault.roles) whose role-id and response-wrapped
    # secret-id the instance gets from the metadata service, for its Vault Agent.
    vault_role: Optional[str] = None

    @field_validator("consul_services")
    @classmethod
    def _service_names(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if not re.match(NAME, n)]
        if bad:
            raise ValueError(f"Consul service names must be DNS labels, got {bad}")
        if len(set(names)) != len(names):
            raise ValueError(f"a service is named twice: {names}")
        return names

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else Reservation._mac(value)


class Volume(Model):
    name: str = Field(pattern=NAME)
    host: str
    size_gb: int = Field(ge=1)
    # iSCSI initiators allowed to log in (ACLs), e.g. iqn.2026-11.mammatus:web-1
    initiators: list[str] = []

    @field_validator("initiators")
    @classmethod
    def _iqns(cls, iqns: list[str]) -> list[str]:
        bad = [i for i in iqns if not re.match(r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:.+)?$", i)]
        if bad:
            raise ValueError(f"initiators must be IQNs like iqn.2026-11.mammatus:web-1, got {bad}")
        return iqns


class Bucket(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    policy: Literal["private", "public-read", "public-read-write"] = "private"
    # MinIO users (generated secret keys) with read-write on this bucket.
    writers: list[str] = []
    readers: list[str] = []
    # Whether deleting the bucket (a `destroy`, or dropping it from the spec) deletes what it
    # holds; by default a bucket with objects is refused, as S3 refuses it.
    force_destroy: bool = False


class Topic(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,256}(\.fifo)?$")

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


class Queue(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,75}(\.fifo)?$")
    visibility_timeout: int = Field(30, ge=0, le=43200)
    retention_seconds: int = Field(345600, ge=60, le=1209600)
    dead_letter_queue: Optional[str] = None
    max_receive_count: int = Field(5, ge=1, le=1000)
    # SNS topics this queue subscribes to.
    subscribe_to: list[str] = []

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


class Trigger(Model):
    """What invokes a function besides its URL (http): the functions connector
    (services/functions) invokes it on each SNS message of `topic`, each SQS message of
    `queue`, or at each time `schedule` (cron's five fields, or @daily …) names in `timezone`.
    `invoke`: the gateway's /function/ (sync: an SQS message is deleted, an SNS delivery
    acknowledged, once the function answered 2xx) or /async-function/ (once the gateway
    queued the call)."""
    kind: Literal["http", "cron", "sns", "sqs"]
    schedule: Optional[str] = None   # cron
    timezone: str = "UTC"            # cron: an IANA time zone (Europe/Berlin)
    topic: Optional[str] = None      # sns
    queue: Optional[str] = None      # sqs
    invoke: Literal["sync", "async"] = "sync"

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            cron.parse(value)   # CronError is a ValueError: the message names the field
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        cron.zone(value)
        return value

    @model_validator(mode="after")
    def _cron_only(self) -> "Trigger":
        # The default passes (a dumped spec validates again); another zone is a mistake.
        if self.kind != "cron" and self.timezone != "UTC":
            raise ValueError("timezone applies to cron triggers only")
        return self


class Function(Model):
    name: str = Field(pattern=NAME)
    image: str
    triggers: list[Trigger] = [Trigger(kind="http")]
    env: dict[str, str] = {}


class Threshold(Model):
    """An alert when a Telegraf field passes a limit on a host (per `by` tag too): critical at
    `crit`, a warning at `warn`; `below` for fields where less is worse (cpu's usage_idle)."""
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    measurement: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$")
    field: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$")
    crit: float
    warn: Optional[float] = None
    below: bool = False
    by: list[str] = []   # more tags to tell series apart (disk: path)
    where: dict[str, str] = {}   # tag = value filters (cpu: cpu = cpu-total)


DEFAULT_THRESHOLDS = [
    Threshold(name="cpu_busy", measurement="cpu", field="usage_idle", crit=10, warn=20, below=True,
              where={"cpu": "cpu-total"}),
    Threshold(name="disk_full", measurement="disk", field="used_percent", crit=90, warn=80,
              by=["path"]),
    Threshold(name="memory_full", measurement="mem", field="used_percent", crit=90, warn=80),
]


class Monitoring(Model):
    """What the Monitoring layer keeps and when it alerts (placement.monitoring runs it).
    Alerts go to the SNS topic `alertTopic` (then to its SQS and http(s) subscribers)."""
    retention: str = Field("30d", pattern=r"^(INF|[1-9][0-9]{0,5}[hdw])$")
    alert_topic: Optional[str] = None
    # A host that sends no metrics for this long is down; a stopped Mammatus unit is critical.
    host_down_after: str = Field("1m", pattern=r"^[1-9][0-9]{0,4}[sm]$")
    service_down: bool = True
    thresholds: list[Threshold] = DEFAULT_THRESHOLDS


DURATION = r"^[1-9][0-9]{0,3}(ms|s|m)$"


class Backend(Model):
    """One server behind a route: an instance by name, reached as `<name>.<domain>` through the
    cloud's DNS (its DHCP lease decides the address, so a new instance joins by its name), or
    one of the cloud's hosts by name (its LAN address). `port` defaults to 80 for HTTP routes
    and to the route's own port for TCP routes."""
    instance: Optional[str] = Field(None, pattern=NAME)
    host: Optional[str] = Field(None, pattern=NAME)
    port: Optional[int] = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _one_target(self) -> "Backend":
        if (self.instance is None) == (self.host is None):
            raise ValueError("a backend names exactly one of instance or host")
        return self

    @property
    def target(self) -> str:
        return self.instance or self.host


class HealthCheck(Model):
    """traefik's active health check: a server that fails it leaves the route until it passes
    again (HTTP: a status outside 2xx/3xx or no answer; TCP: no connection)."""
    path: str = Field("/", pattern=r"^/[!-~]*$")   # HTTP routes only
    interval: str = Field("5s", pattern=DURATION)
    timeout: str = Field("2s", pattern=DURATION)


class HttpRoute(Model):
    """Requests for `host` (default `<name>.<domain>`, a DNS record the cloud adds pointing at
    the load balancer) and, optionally, a path prefix go to the backends; with `tls` (the
    default) on :443 with a certificate the cloud's CA issues by ACME."""
    name: str = Field(pattern=NAME)
    host: Optional[str] = Field(None, pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
    path: Optional[str] = Field(None, pattern=r"^/[!-~]*$")
    tls: bool = True
    backends: list[Backend] = Field(min_length=1)
    health_check: HealthCheck = HealthCheck()


class TcpRoute(Model):
    """Connections to the load balancer's `port` go to the backends (no TLS termination)."""
    name: str = Field(pattern=NAME)
    port: int = Field(ge=1, le=65535)
    backends: list[Backend] = Field(min_length=1)
    health_check: HealthCheck = HealthCheck()


class LoadBalancerSpec(Model):
    """What users publish through the load balancer (placement.loadBalancer runs traefik)."""
    routes: list[HttpRoute] = []
    tcp: list[TcpRoute] = []


# Vault's durations: seconds, or a number with s, m, h or d ("0": no limit).
VAULT_DURATION = r"^(0|[1-9][0-9]{0,9}[smhd]?)$"
# Vault's ACL capabilities (docs/concepts/policies).
VAULT_CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "deny")


class VaultRole(Model):
    """An AppRole instances log in with (their Vault Agent, auto-auth): the tokens it gives
    carry `policies` (and Vault's `default`). Each instance naming it (`vaultRole`) gets a
    role-id and a secret-id wrapped in a single-use token that lives `wrapTtl`; its agent
    unwraps it once, at its first start."""
    policies: list[str] = Field(min_length=1)
    token_ttl: str = Field("1h", pattern=VAULT_DURATION)
    token_max_ttl: str = Field("24h", pattern=VAULT_DURATION)
    # The unwrapped secret-id: the agent logs in with it again whenever its token reaches
    # token_max_ttl, so by default it neither expires nor runs out of uses.
    secret_id_ttl: str = Field("0", pattern=VAULT_DURATION)
    secret_id_num_uses: int = Field(0, ge=0)
    wrap_ttl: str = Field("1h", pattern=r"^[1-9][0-9]{0,9}[smh]?$")


class VaultSpec(Model):
    """What the Secrets layer applies to Vault (placement.vault) once it holds an operator token
    (the secret config key mammatus:vaultToken; README "Vault: init and unseal"): ACL policies,
    each HCL text or path rules ({path: [capability, …]}), and the AppRoles instances use."""
    policies: dict[str, str | dict[str, list[str]]] = {}
    roles: dict[str, VaultRole] = {}


class Placement(Model):
    """Which host runs each cloud service. Serf and Telegraf run on every host. Some services
    need others (vault needs ca; sns and sqs need nats) and some sections need a service
    (topics: sns, queues: sqs, functions: functions, instances: metadata): stacks/checks.py."""
    dns: Optional[str] = None          # dnsmasq (defaults to the gateway)
    ca: Optional[str] = None           # step-ca
    monitoring: Optional[str] = None   # InfluxDB, Kapacitor and its alert relay
    nats: Optional[str] = None
    metadata: Optional[str] = None
    sns: Optional[str] = None
    sqs: Optional[str] = None
    object_storage: Optional[str] = None  # MinIO
    load_balancer: Optional[str] = None   # traefik
    functions: Optional[str] = None       # faasd and its connector (services/functions)
    # The artifact server: the pinned agent builds instances install (Telegraf), over HTTP on
    # the LAN as artifacts.<domain>.
    artifacts: Optional[str] = None
    consul: list[str] = []
    vault: Optional[str] = None


class Packages(Model):
    """Where hosts get their Debian packages (always at the versions tools/debian.lock pins):
    `cloud`, from the repository Mammatus delivers over SSH (no host needs the internet: an
    air-gapped LAN works); `mirror`, from each host's own apt sources (smaller transfers, when
    every host has a working mirror that still carries the pinned versions)."""
    source: Literal["cloud", "mirror"] = "cloud"


class DevBox(Model):
    """The cloud in a box: how the dev stack wires its hosts (LXD system containers) on this
    one machine. The WAN is a namespace with no way out (documentation range); the machine
    joins the LAN only to reach its hosts over SSH, and forwards nothing."""
    prefix: str = Field("mm", pattern=r"^[a-z][a-z0-9]{0,5}$")
    upstream_address: ipaddress.IPv4Interface = ipaddress.IPv4Interface("192.0.2.1/24")
    gateway_wan_address: ipaddress.IPv4Interface = ipaddress.IPv4Interface("192.0.2.2/24")
    machine_lan_address: ipaddress.IPv4Interface = ipaddress.IPv4Interface("198.51.100.254/24")


class StackSpec(Model):
    run_dir: str = Field(
        description="Directory on the machine running Pulumi where the stack keeps local state "
                    "(the admin public key; in the dev stack, the dev box's LXD and its hosts).")
    hosts: list[Host] = []
    gateway: Optional[Gateway] = None
    network: Optional[Network] = None
    firewall: list[FirewallRule] = []
    placement: Placement = Placement()
    instances: list[Instance] = []
    volumes: list[Volume] = []
    buckets: list[Bucket] = []
    topics: list[Topic] = []
    queues: list[Queue] = []
    functions: list[Function] = []
    monitoring: Monitoring = Monitoring()
    load_balancer: LoadBalancerSpec = LoadBalancerSpec()
    vault: VaultSpec = VaultSpec()
    packages: Packages = Packages()
    dev_box: Optional[DevBox] = None

    @field_validator("run_dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value) or os.path.normpath(value) == "/":
            raise ValueError(f"must be an absolute path other than /, got {value!r}")
        return os.path.normpath(value)

    # Lookups the components use.
    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def hosts_with(self, role: Role) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    @property
    def dns_host(self) -> Optional[str]:
        """The host running DHCP/DNS/TFTP: placement `dns`, by default the gateway."""
        return self.placement.dns or (self.gateway.host if self.gateway else None)

    @property
    def pushes_leases(self) -> bool:
        """True when the metadata service and the DHCP server are on different hosts: dnsmasq's
        lease script then sends every lease to the service (its identity proof)."""
        return bool(self.placement.metadata and self.dns_host
                    and self.placement.metadata != self.dns_host)

    def lan_interface_of(self, host: Host) -> str:
        """A host's LAN port (the gateway's is named in the gateway section)."""
        if self.gateway and self.gateway.host == host.name:
            return self.gateway.lan_interface
        return host.lan_interface

    def instance_mac(self, instance: "Instance") -> str:
        """The instance's MAC: the spec's, else one derived from the cloud's domain and the
        instance's name (LXD's 00:16:3e prefix), so that DHCP, the metadata service's inventory
        and LXD agree on it before the instance exists."""
        if instance.mac:
            return instance.mac
        domain = self.network.domain if self.network else ""
        digest = hashlib.sha256(f"{domain}/{instance.name}".encode()).digest()
        return "00:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])
