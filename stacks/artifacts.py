"""What each host needs delivered, from the spec alone: the daemon binaries its placements run,
for its architecture. The Delivery layer (components/delivery.py) puts them in BIN_DIR on the
host before any layer that runs them; tools/bootstrap builds them into `.tools/dist/<platform>/`.

Debian packages (dnsmasq, iptables, serf, influxdb, lxd …) and Mammatus' own Python services
are not in this catalogue yet: on a host they come from its apt and `/opt/mammatus/.venv`.
"""

from __future__ import annotations

from stacks.spec import Host, StackSpec

BIN_DIR = "/opt/mammatus/bin"

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
ALL_BINARIES = tuple(sorted({b for names in (*PLACED_BINARIES.values(),
                                             *EVERY_HOST_BINARIES.values()) for b in names}))


def platform_of(host: Host) -> str:
    """The `.tools/dist/` folder of the host's builds: linux-amd64, linux-arm64."""
    return f"linux-{host.arch.value}"


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
    return sorted(needed)
