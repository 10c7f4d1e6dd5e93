"""What each host needs delivered, from the spec alone: the daemon binaries its placements run,
for its architecture. The Delivery layer (components/delivery.py) puts them in BIN_DIR on the
host before any layer that runs them; tools/bootstrap builds them into `.tools/dist/<platform>/`.

Mammatus' own Python services come as a bundle and an environment per platform
(tools/dist/bundle.py) on every host that runs one (`runs_services`). Debian packages (`debian_packages_for`) are pinned in
tools/debian.lock and served to hosts from a repository Mammatus delivers (tools/dist/debs.py).
"""

from __future__ import annotations

from stacks.spec import Host, Role, StackSpec

BIN_DIR = "/opt/mammatus/bin"
DEBIAN_REPO = "/opt/mammatus/dist/debian.tar"
DEBIAN_ROOT = "/opt/mammatus/apt"
# Distribution units that would take the place (and port) of a Mammatus unit: masked.
DISTRO_UNITS_TO_MASK = {"influxdb": ("influxdb.service",)}
SERVICES_ROOT = "/opt/mammatus/services"     # environments/<digest>/venv, releases/<digest>/src
SERVICES_BUNDLE = "/opt/mammatus/dist/mammatus-services.tar"
SERVICES_ENVIRONMENT = "/opt/mammatus/dist/mammatus-services-environment.tar.gz"
# Placements that run one of Mammatus' Python services (python -m services.<name>).
PYTHON_SERVICES = ("metadata", "sns", "sqs", "artifacts", "functions")
# What the artifact server serves instances (services/artifacts): <root>/<platform>/<binary>.
# Instances are amd64 (stacks/checks.py: their image is built for amd64 only).
INSTANCE_ARTIFACTS_ROOT = "/srv/mammatus/artifacts"
INSTANCE_PLATFORM = "linux-amd64"

# placement key -> binaries the daemon(s) placed there run
PLACED_BINARIES: dict[str, tuple[str, ...]] = {
    "ca": ("step-ca",),
    "nats": ("nats-server",),
    "object_storage": ("minio",),
    "consul": ("consul",),
    "load_balancer": ("traefik",),
}
# Binaries every host runs when the cloud has the service (Telegraf reports each host).
EVERY_HOST_BINARIES: dict[str, tuple[str, ...]] = {
    "monitoring": ("telegraf",),
}
# The monitoring host's alerts (components/alerts.py), when monitoring.alertTopic is set.
ALERT_BINARIES = ("kapacitord",)
# Built for linux-amd64 only: kapacitord links Flux's Rust library through cgo, and this machine
# has no aarch64 C toolchain nor Rust's aarch64 std to cross-build it (stacks/checks.py refuses
# alerts on an arm64 monitoring host).
AMD64_ONLY = ("kapacitord",)
ALL_BINARIES = tuple(sorted({b for names in (*PLACED_BINARIES.values(),
                                             *EVERY_HOST_BINARIES.values(), ALERT_BINARIES)
                             for b in names}))


def instance_binaries(spec: StackSpec) -> list[str]:
    """The agents instances install from the artifact server: Telegraf when the cloud has
    monitoring (each instance reports to its InfluxDB), Consul when it has Consul servers (each
    instance's agent joins them)."""
    if not (spec.placement.artifacts and spec.instances):
        return []
    return [b for b, wanted in (("consul", bool(spec.placement.consul)),
                                ("telegraf", bool(spec.placement.monitoring))) if wanted]


def binaries_of_platform(platform: str) -> tuple[str, ...]:
    """Every binary tools/bootstrap builds for `platform` (linux-amd64, linux-arm64)."""
    return tuple(b for b in ALL_BINARIES if platform == "linux-amd64" or b not in AMD64_ONLY)


def platform_of(host: Host) -> str:
    """The `.tools/dist/` folder of the host's builds: linux-amd64, linux-arm64."""
    return f"linux-{host.arch.value}"


def alerts_on(spec: StackSpec, host: Host) -> bool:
    """Whether the host runs the alerts (Kapacitor and its relay): the monitoring host, when
    alerts have a topic to go to."""
    return bool(spec.monitoring.alert_topic) and spec.placement.monitoring == host.name


def runs_services(spec: StackSpec, host: Host) -> bool:
    """Whether the host runs Mammatus' Python code: a placed service, the alert relay, or
    dnsmasq's lease hook (the DHCP host when the metadata service is elsewhere)."""
    if any(getattr(spec.placement, s) == host.name for s in PYTHON_SERVICES):
        return True
    if alerts_on(spec, host):
        return True
    return spec.pushes_leases and spec.dns_host == host.name


def binaries_for(spec: StackSpec, host: Host) -> list[str]:
    """The binaries `host` runs, sorted (stable resource order)."""
    needed: set[str] = set()
    for service, names in PLACED_BINARIES.items():
        placed = getattr(spec.placement, service)
        if host.name in (placed if isinstance(placed, list) else [placed]):
            needed.update(names)
    for service, names in EVERY_HOST_BINARIES.items():
        if getattr(spec.placement, service):
            needed.update(names)
    if alerts_on(spec, host):
        needed.update(ALERT_BINARIES)
    return sorted(needed)


# Debian packages (Debian 12's names) by what a host does; every host runs Serf.
EVERY_HOST_PACKAGES = ("serf",)
DNS_HOST_PACKAGES = ("dnsmasq-base",)
# What the DNS host's TFTP root is filled from (components/dhcp_dns_tftp.py): iPXE for BIOS
# and x86-64 UEFI, Debian 12's netboot installers (architecture "all", so any DNS host serves
# both): amd64's is what the iPXE script boots, arm64's carries the ARM64 UEFI loader.
PXE_PACKAGES = ("ipxe",)
# Only when network.pxe.machines lists machines to install (Pxe.installs): 260 MB.
NETBOOT_PACKAGES = ("debian-installer-12-netboot-amd64", "debian-installer-12-netboot-arm64")
GATEWAY_PACKAGES = ("iptables",)
COMPUTE_PACKAGES = ("lxd",)
MONITORING_PACKAGES = ("influxdb",)
VOLUME_PACKAGES = ("targetcli-fb",)
SERVICES_PACKAGES = ("python3-venv",)
ALL_DEBIAN_PACKAGES = tuple(sorted({*EVERY_HOST_PACKAGES, *DNS_HOST_PACKAGES, *PXE_PACKAGES,
                                    *NETBOOT_PACKAGES,
                                    *GATEWAY_PACKAGES, *COMPUTE_PACKAGES, *MONITORING_PACKAGES,
                                    *VOLUME_PACKAGES, *SERVICES_PACKAGES}))


def pxe_packages(spec: StackSpec) -> list[str]:
    """What fills the DNS host's TFTP root: iPXE whenever PXE is on, the netboot installers
    when there are machines to install."""
    pxe = spec.network.pxe if spec.network is not None else None
    if pxe is None or not pxe.enabled:
        return []
    return [*PXE_PACKAGES, *(NETBOOT_PACKAGES if pxe.installs else ())]


def debian_packages_for(spec: StackSpec, host: Host) -> list[str]:
    """The Debian packages `host` needs, sorted."""
    needed = set(EVERY_HOST_PACKAGES)
    if spec.network is not None and spec.dns_host == host.name:
        needed.update(DNS_HOST_PACKAGES)
        needed.update(pxe_packages(spec))
    if spec.gateway is not None and spec.gateway.host == host.name:
        needed.update(GATEWAY_PACKAGES)
    if Role.compute in host.roles:
        needed.update(COMPUTE_PACKAGES)
    if spec.placement.monitoring == host.name:
        needed.update(MONITORING_PACKAGES)
    if any(v.host == host.name for v in spec.volumes):
        needed.update(VOLUME_PACKAGES)
    if runs_services(spec, host):
        needed.update(SERVICES_PACKAGES)
    return sorted(needed)
