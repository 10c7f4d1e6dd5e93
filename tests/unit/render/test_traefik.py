import pytest
import yaml

from components.render import traefik


def test_static_config_trusts_the_cloud_root_for_acme():
    paths = traefik.TraefikPaths()
    config = yaml.safe_load(traefik.static_config(
        paths, "https://ca.mammatus:9000/acme/acme/directory", "admin@mammatus"))
    acme = config["certificatesResolvers"]["stepca"]["acme"]
    assert acme["caServer"] == "https://ca.mammatus:9000/acme/acme/directory"
    assert acme["caCertificates"] == ["/etc/mammatus/traefik/root_ca.crt"]
    assert acme["tlsChallenge"] == {}
    assert "http" not in config["entryPoints"]["web"]   # redirects are per TLS route
    assert config["ping"] == {"entryPoint": "traefik"}
    assert config["entryPoints"]["traefik"]["address"] == "127.0.0.1:8082"
    assert config["entryPoints"]["websecure"]["address"] == ":443"
    assert config["providers"]["file"] == {"directory": "/etc/mammatus/traefik/dynamic", "watch": True}


def test_route_config_router_and_service():
    route = traefik.Route("grafana", "grafana.mammatus", ["http://10.0.0.2:3000"], path_prefix="/")
    config = yaml.safe_load(traefik.route_config(route))
    router = config["http"]["routers"]["grafana"]
    assert router["rule"] == "Host(`grafana.mammatus`) && PathPrefix(`/`)"
    assert router["tls"] == {"certResolver": "stepca"} and router["entryPoints"] == ["websecure"]
    assert config["http"]["services"]["grafana"]["loadBalancer"]["servers"] == [{"url": "http://10.0.0.2:3000"}]
    assert traefik.route_path(traefik.TraefikPaths(), route) == "/etc/mammatus/traefik/dynamic/grafana.yaml"


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "Bad_Name", "host": "x", "backends": ["http://a"]}, "DNS label"),
    ({"name": "x", "host": "x", "backends": []}, "at least one"),
    ({"name": "x", "host": "x", "backends": ["ftp://a"]}, "http"),
])
def test_route_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        traefik.Route(**kwargs)
