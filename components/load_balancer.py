"""mammatus:lb:LoadBalancer — traefik on the host placed as `loadBalancer` (seed: LBaaS), with
routes as resources: each `mammatus:lb:Route` is one dynamic-config file in traefik's watched
directory (added or removed without a restart) plus, when the DNS layer is there, a DNS record
for its host name. TLS comes from the cloud's CA: an ACME resolver on step-ca's ACME directory
with the root CA trusted. Renderer: components/render/traefik.py (validated by the real traefik).

Needs (both optional): the CA's handle (its ACME directory and root; without them routes are
plain HTTP) and the DhcpServer (a DNS record per route). The default route (the Consul UI)
follows the spec's placement.
"""

from __future__ import annotations

import posixpath
from typing import Optional, Sequence

import pulumi

from components.runtime import delivered
from components.context import CloudContext
from components.contracts import CaHandle, DhcpServer, WiringError
from components.host import HostAccess, HostFile, HostService, host_dirs, parent_dirs, service_user
from components.render import consul as consul_render
from components.render import traefik
from components.service_manager import Daemon
from components.naming import domain_of, fqdn
from dynamic_providers.dnsmasq import DnsmasqRecord

USER = "traefik"


def default_routes(ctx: CloudContext) -> list[traefik.Route]:
    """The cloud's own web consoles, by name in the cloud's domain."""
    spec, domain = ctx.spec, domain_of(ctx.spec)
    routes = []
    if spec.placement.consul:
        routes.append(traefik.Route("consul", fqdn("consul", domain), [
            f"http://{spec.host(h).address}:{consul_render.HTTP_PORT}" for h in spec.placement.consul]))
    return routes


class Route(pulumi.ComponentResource):
    """One route: its dynamic-config file on the load balancer (and its DNS record)."""
    host: pulumi.Output[str]
    path: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, access: HostAccess, route: traefik.Route,
                 resolver: Optional[str], depends_on: Sequence[pulumi.Resource] = (),
                 dhcp: Optional[DhcpServer] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:lb:Route", name, None, opts)
        text = traefik.route_config(route, resolver)
        on_host = traefik.route_path(traefik.TraefikPaths(), route)
        f = HostFile(f"{name}-file", access, on_host, text,
                     opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)))
        if dhcp is not None:
            DnsmasqRecord(f"{name}-record", name=route.host, address=str(access.host.address),
                          target=dhcp.target, opts=pulumi.ResourceOptions(
                              parent=self, depends_on=[dhcp.resource]))
        self.host = pulumi.Output.from_input(route.host)
        self.path = f.path
        self.register_outputs({"host": self.host, "path": self.path})


class LoadBalancer(pulumi.ComponentResource):
    address: pulumi.Output[str]
    routes: pulumi.Output[list]
    static_config: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, routes: Optional[Sequence[traefik.Route]] = None,
                 ca: Optional[CaHandle] = None, dhcp: Optional[DhcpServer] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:lb:LoadBalancer", name, None, opts)
        access = ctx.placed_for("load_balancer", "LoadBalancer")
        routes = list(default_routes(ctx) if routes is None else routes)
        names = [r.name for r in routes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise WiringError(f"load balancer routes named twice: {duplicates}")
        child = pulumi.ResourceOptions(parent=self)
        domain = domain_of(ctx.spec)
        on_host = traefik.TraefikPaths()
        acme = ca.acme_directory if ca is not None else None
        root_pem = ca.root_pem if ca is not None else None
        resolver = traefik.RESOLVER if ca is not None else None

        dirs = host_dirs(f"{name}-dirs", access,
                         [on_host.dynamic_dir, *parent_dirs(on_host.static)], self)
        # As traefik's own unit runs it: user traefik, allowed ports 80 and 443, its ACME
        # certificates its own state.
        user = service_user(f"{name}-user", access, USER, self)
        after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])
        static = pulumi.Output.from_input(acme).apply(
            lambda directory: traefik.static_config(on_host, directory if resolver else None,
                                                    f"admin@{domain}"))
        files = [HostFile(f"{name}-static", access, on_host.static, static,
                          opts=after_dirs)]
        if resolver:
            files.append(HostFile(f"{name}-root-ca", access, on_host.root_ca,
                                  root_pem, opts=after_dirs))
        binary = delivered(ctx, access, "traefik")
        self.service = HostService(f"{name}-traefik", access, Daemon(
            name="traefik", description="traefik (load balancer)",
            command=[binary.path, f"--configFile={on_host.static}"], user=USER,
            state_dir=posixpath.dirname(on_host.acme_storage).removeprefix("/var/lib/"),
            capabilities=("CAP_NET_BIND_SERVICE",)),
            config=[traefik.static_config(on_host, "acme" if resolver else None, ""), binary.sha256],
            depends_on=[*files, user, *binary.deps, *([ca.service] if ca is not None else [])],
            opts=child)
        self.route_resources = [Route(f"{name}-route-{r.name}", ctx, access, r, resolver,
                                      depends_on=[dirs], dhcp=dhcp, opts=child) for r in routes]

        self.address = pulumi.Output.from_input(str(access.host.address))
        self.routes = pulumi.Output.from_input([
            {"name": r.name, "host": r.host, "backends": list(r.backends), "tls": bool(resolver and r.tls)}
            for r in routes])
        self.static_config = static
        self.register_outputs({"address": self.address, "routes": self.routes,
                               "static_config": self.static_config})
