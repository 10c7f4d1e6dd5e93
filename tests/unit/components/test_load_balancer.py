import pytest
import yaml

from components.ca import CertificateAuthority
from components.dhcp_dns_tftp import DhcpDnsTftp
from components.load_balancer import LoadBalancer
from components.monitoring import Monitoring
from components.render import traefik
from tests.support.netlab import context, registered, stack_spec
from tests.support.pulumi_mocks import resolved

RECORD = "pulumi-python:dynamic/mammatus:DnsmasqRecord"


@pytest.fixture(scope="module")
def home():
    ctx = context(stack_spec("home"))

    def build():
        dhcp = DhcpDnsTftp("dns", ctx).server
        ca = CertificateAuthority("ca", ctx).handle
        Monitoring("mon", ctx)
        return LoadBalancer("lb", ctx, ca=ca, dhcp=dhcp, routes=[
            *__import__("components.load_balancer", fromlist=["x"]).default_routes(ctx),
            traefik.Route("app", "app.mammatus", ["http://10.0.0.50:8080"])])
    mocks, lb = registered(build)
    return mocks, lb, ctx


def test_static_config_uses_the_ca_acme_directory(home):
    mocks, _, _ = home
    static = yaml.safe_load(mocks.inputs("lb-static-write")["content"])
    acme = static["certificatesResolvers"]["stepca"]["acme"]
    assert acme["caServer"] == "https://control.mammatus:9000/acme/acme/directory"
    assert acme["caCertificates"] == ["/etc/mammatus/traefik/root_ca.crt"]
    assert "BEGIN CERTIFICATE" in mocks.inputs("lb-root-ca-write")["content"]
    assert "--configFile=/etc/mammatus/traefik/traefik.yaml" in mocks.inputs("lb-traefik-run")["create"]
    # As traefik's own unit runs it: its user, ports 80/443 by capability, ACME storage its own.
    unit = mocks.inputs("lb-traefik-run")["create"]
    assert "User=traefik" in unit and "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit
    assert "StateDirectory=mammatus/traefik" in unit


def test_each_route_is_a_component_with_its_file_and_dns_record(home):
    mocks, _, _ = home
    routes = mocks.of_type("mammatus:lb:Route")
    # The given HTTP routes and the spec's TCP route (home: db on :5432).
    assert {r.name for r in routes} == {"lb-route-consul", "lb-route-app", "lb-route-db"}
    db = yaml.safe_load(mocks.inputs("lb-route-db-file-write")["content"])["tcp"]
    assert db["routers"]["db"] == {"rule": "HostSNI(`*`)", "service": "db", "entryPoints": ["tcp-db"]}
    assert db["services"]["db"]["loadBalancer"]["servers"] == [{"address": "db-1.mammatus:5432"}]
    static = yaml.safe_load(mocks.inputs("lb-static-write")["content"])
    assert static["entryPoints"]["tcp-db"] == {"address": "10.0.0.2:5432"}
    assert static["entryPoints"]["websecure"] == {"address": "10.0.0.2:443"}
    app = yaml.safe_load(mocks.inputs("lb-route-app-file-write")["content"])
    assert app["http"]["routers"]["app"]["tls"] == {"certResolver": "stepca"}
    assert "/etc/mammatus/traefik/dynamic/app.yaml" in mocks.inputs("lb-route-app-file-write")["path"]
    consul = yaml.safe_load(mocks.inputs("lb-route-consul-file-write")["content"])
    # The Consul UI: Consul's HTTPS API on each server, checked against the cloud's root.
    assert [s["url"] for s in consul["http"]["services"]["consul"]["loadBalancer"]["servers"]] == [
        "https://10.0.0.2:8501", "https://10.0.0.11:8501", "https://10.0.0.12:8501"]
    assert static["serversTransport"] == {"rootCAs": ["/etc/mammatus/traefik/root_ca.crt"]}
    record = [r for r in mocks.of_type(RECORD) if r.name == "lb-route-app-record"][0]
    assert (record.inputs["name"], record.inputs["address"]) == ("app.mammatus", "10.0.0.2")


def test_without_a_ca_routes_are_plain():
    spec = stack_spec("lab")
    ctx = context(spec)
    mocks, _ = registered(lambda: LoadBalancer("plainlb", ctx, routes=[
        traefik.Route("x", "x.lab.mammatus", ["http://10.10.0.5"])]))
    static = yaml.safe_load(mocks.inputs("plainlb-static-write")["content"])
    assert "certificatesResolvers" not in static
    assert yaml.safe_load(mocks.inputs("plainlb-route-x-file-write")["content"])["http"]["routers"]["x"]["tls"] == {}


def test_duplicate_routes_are_refused():
    ctx = context(stack_spec("lab"))
    r = traefik.Route("x", "x", ["http://a"])
    with pytest.raises(ValueError, match="named twice"):
        registered(lambda: LoadBalancer("duplb", ctx, routes=[r, r]))


def test_the_specs_routes_reach_instances_by_name_with_health_checks():
    ctx = context(stack_spec("home"))

    def build():
        return LoadBalancer("speclb", ctx, ca=CertificateAuthority("ca2", ctx).handle,
                            dhcp=DhcpDnsTftp("dns2", ctx).server)
    mocks, lb = registered(build)
    web = yaml.safe_load(mocks.inputs("speclb-route-web-file-write")["content"])["http"]
    assert web["services"]["web"]["loadBalancer"]["servers"] == [
        {"url": "http://web-1.mammatus:80"}, {"url": "http://web-2.mammatus:80"}]
    assert web["services"]["web"]["loadBalancer"]["healthCheck"] == {
        "path": "/", "interval": "5s", "timeout": "2s"}
    assert web["routers"]["web"]["rule"] == "Host(`web.mammatus`)"
    assert web["routers"]["web-http"]["middlewares"] == ["web-https"]
    record = [r for r in mocks.of_type(RECORD) if r.name == "speclb-route-web-record"][0]
    assert (record.inputs["name"], record.inputs["address"]) == ("web.mammatus", "10.0.0.2")
    routes = resolved(lb.routes)
    assert routes["web"]["url"] == "https://web.mammatus/" and routes["web"]["tls"]
    assert routes["db"] == {"url": "tcp://10.0.0.2:5432", "backends": ["db-1.mammatus:5432"],
                            "tls": False}
