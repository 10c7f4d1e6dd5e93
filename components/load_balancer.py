"""mammatus:lb:LoadBalancer — traefik on the host placed as `loadBalancer` (seed: LBaaS), with
routes as resources: each `mammatus:lb:Route` is one dynamic-config file in traefik's watched
directory (added or removed without a restart) plus, when the DNS layer is there, a DNS record
for its host name. TLS comes from the cloud's CA: an ACME resolver on step-ca's ACME directory
with the root CA trusted. Renderer: components/render/traefik.py (validated by the real traefik).

Needs (both optional): the CA's handle (its ACME directory and root; without them routes are
plain HTTP) and the DhcpServer (a DNS record per route). The default route (the Consul UI, to
Consul's HTTPS API with the cloud's root trusted) follows the spec's placement.
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
from stacks.spec import Backend, HealthCheck, StackSpec

USER = "traefik"


def default_routes(ctx: CloudContext) -> list[traefik.Route]:
    """The cloud's own web consoles, by name in the cloud's domain."""
    spec, domain = ctx.spec, domain_of(ctx.spec)
    routes = []
    if spec.placement.consul:
        routes.append(traefik.Route("consul", fqdn("consul", domain), [
            f"https://{spec.host(h).address}:{consul_render.HTTPS_PORT}"
            for h in spec.placement.consul]))
    return routes


def _server(spec: StackSpec, backend: Backend, default_port: int) -> str:
    """host:port of a backend: an instance by its name in the cloud's DNS (traefik resolves it
    on each new connection, so the instance's lease decides), a host by its address."""
    where = fqdn(backend.instance, domain_of(spec)) if backend.instance else \
        str(spec.host(backend.host).address)
    return f"{where}:{backend.port or default_port}"


def _check(check: HealthCheck) -> traefik.HealthCheck:
    return traefik.HealthCheck(check.path, check.interval, check.timeout)


def spec_routes(spec: StackSpec) -> list[traefik.Route]:
    """The users' HTTP routes of `mammatus:loadBalancer`."""
    domain = domain_of(spec)
    return [traefik.Route(r.name, r.host or fqdn(r.name, domain),
                          [f"http://{_server(spec, b, 80)}" for b in r.backends],
                          path_prefix=r.path, tls=r.tls, health_check=_check(r.health_check))
            for r in spec.load_balancer.routes]


def spec_tcp_routes(spec: StackSpec, address: str) -> list[traefik.TcpRoute]:
    """The users' TCP routes, each on its port of the load balancer's LAN address."""
    return [traefik.TcpRoute(r.name, f"{address}:{r.port}",
                             [_server(spec, b, r.port) for b in r.backends],
                             _check(r.health_check))
            for r in spec.load_balancer.tcp]


def route_url(route: traefik.Route, tls: bool) -> str:
    return f"{'https' if tls else 'http'}://{route.host}{route.path_prefix or '/'}"


class Route(pulumi.ComponentResource):
    """One route: its dynamic-config file on the load balancer (and, for an HTTP route, its
    DNS record)."""
    host: pulumi.Output[str]
    path: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, access: HostAccess,
                 route: traefik.Route | traefik.TcpRoute,
                 resolver: Optional[str], depends_on: Sequence[pulumi.Resource] = (),
                 dhcp: Optional[DhcpServer] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:lb:Route", name, None, opts)
        tcp = isinstance(route, traefik.TcpRoute)
        text = traefik.tcp_route_config(route) if tcp else traefik.route_config(route, resolver)
        on_host = traefik.route_path(traefik.TraefikPaths(), route)
        f = HostFile(f"{name}-file", access, on_host, text,
                     opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)))
        if tcp:
            self.host = pulumi.Output.from_input(route.address)
            self.path = f.path
            self.register_outputs({"host": self.host, "path": self.path})
            return
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
        address = str(access.host.address)
        routes = list(default_routes(ctx) + spec_routes(ctx.spec) if routes is None else routes)
        tcp = spec_tcp_routes(ctx.spec, address)
        names = [r.name for r in [*routes, *tcp]]
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
        # Every listener on the load balancer's LAN address (the host may serve others on
        # other addresses: the metadata service answers on 169.254.169.254:80 of control).
        listen = {"web": f"{address}:80", "websecure": f"{address}:443", "tcp": tcp}
        static = pulumi.Output.from_input(acme).apply(
            lambda directory: traefik.static_config(on_host, directory if resolver else None,
                                                    f"admin@{domain}", **listen))
        files = [HostFile(f"{name}-static", access, on_host.static, static,
                          opts=after_dirs)]
        if resolver:
            files.append(HostFile(f"{name}-root-ca", access, on_host.root_ca,
                                  root_pem, opts=after_dirs))
        # The routes (files and DNS records) first: traefik asks the CA for each TLS route's
        # certificate once, as it starts, and neither that request (to ca.<domain>) nor the
        # CA's check of it (to the route's name) works before the cloud's DNS answers both.
        self.route_resources = [Route(f"{name}-route-{r.name}", ctx, access, r, resolver,
                                      depends_on=[dirs], dhcp=dhcp, opts=child)
                                for r in [*routes, *tcp]]
        binary = delivered(ctx, access, "traefik")
        self.service = HostService(f"{name}-traefik", access, Daemon(
            name="traefik", description="traefik (load balancer)",
            command=[binary.path, f"--configFile={on_host.static}"], user=USER,
            state_dir=posixpath.dirname(on_host.acme_storage).removeprefix("/var/lib/"),
            capabilities=("CAP_NET_BIND_SERVICE",)),
            config=[traefik.static_config(on_host, "acme" if resolver else None, "", **listen),
                    binary.sha256],
            depends_on=[*files, user, *binary.deps, *self.route_resources,
                        *([ca.service] if ca is not None else []),
                        *([dhcp.resource] if dhcp is not None else [])],
            opts=child)

        self.address = pulumi.Output.from_input(address)
        # {name: {url, backends, tls}}; a TCP route's url is tcp://<address>:<port>.
        self.routes = pulumi.Output.from_input({
            **{r.name: {"url": route_url(r, bool(resolver and r.tls)), "host": r.host,
                        "backends": list(r.backends), "tls": bool(resolver and r.tls)}
               for r in routes},
            **{r.name: {"url": f"tcp://{r.address}", "backends": list(r.backends), "tls": False}
               for r in tcp}})
        self.static_config = static
        self.register_outputs({"address": self.address, "routes": self.routes,
                               "static_config": self.static_config})
