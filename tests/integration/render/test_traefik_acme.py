"""TLS from the CA, end to end: in a network namespace the test creates, the real step-ca (with
the rendered ca.json) and the real traefik (with the rendered static config and a TLS route)
run on loopback; traefik obtains the route's certificate from step-ca's ACME directory
(tls-alpn-01 on :443), trusting the cloud's root, and a client that trusts only that root gets
the backend's answer over HTTPS."""

import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.render import step_ca, traefik
from tests.support.daemons import start, stop, wait_for
from tests.support.netlab import netns, run
from tests.support.paths import ROOT, built_tool
from tests.support.pki import make_pki

pytestmark = pytest.mark.integration

TRAEFIK = str(ROOT / ".venv" / "bin" / "traefik")


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_route_certificate_comes_from_step_ca_acme(tmp_path):
    step_ca_binary = built_tool("step-ca")
    pki = make_pki()
    ca_paths = step_ca.StepCaPaths().under(lambda p: str(tmp_path / "ca") + p)
    _write(ca_paths.root_cert, pki.root_pem)
    _write(ca_paths.intermediate_cert, pki.intermediate_pem)
    _write(ca_paths.intermediate_key, pki.intermediate_key_pem)
    os.makedirs(ca_paths.db_dir)
    jwk = step_ca.jwk_from_public_pem(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    _write(ca_paths.config, step_ca.ca_config(
        ca_paths, step_ca.dns_names_for("ca.mammatus", "127.0.0.1"),
        [step_ca.acme_provisioner(), step_ca.jwk_provisioner(jwk)], address="127.0.0.1:9000"))

    lb_paths = traefik.TraefikPaths().under(lambda p: str(tmp_path / "lb") + p)
    os.makedirs(lb_paths.dynamic_dir)
    os.makedirs(os.path.dirname(lb_paths.acme_storage))
    _write(lb_paths.root_ca, pki.root_pem)
    _write(lb_paths.static, traefik.static_config(
        lb_paths, step_ca.acme_directory("https://127.0.0.1:9000"), "admin@mammatus",
        web="127.0.0.1:80", websecure="127.0.0.1:443", log_level="DEBUG"))
    route = traefik.Route("site", "localhost", ["http://127.0.0.1:8081"])
    _write(traefik.route_path(lb_paths, route), traefik.route_config(route))
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello over TLS from the cloud CA\n")
    root_file = str(tmp_path / "root.pem")
    _write(root_file, pki.root_pem)

    with netns("mmca") as ns:
        inside = ["ip", "netns", "exec", ns]
        procs = [start([*inside, step_ca_binary, ca_paths.config], str(tmp_path / "step-ca.log")),
                 start([*inside, "python3", "-m", "http.server", "--bind", "127.0.0.1", "8081",
                        "--directory", str(site)], str(tmp_path / "site.log")),
                 start([*inside, TRAEFIK, f"--configFile={lb_paths.static}"], str(tmp_path / "traefik.log"))]
        try:
            def fetch():
                return run("curl", "-sS", "--max-time", "5", "--cacert", root_file,
                           "https://localhost/hello.txt", netns=ns, check=False)
            wait_for(lambda: fetch().returncode == 0, "HTTPS with a step-ca certificate on the route",
                     attempts=300, delay=0.2, proc=procs[2], log=str(tmp_path / "traefik.log"))
            assert fetch().stdout == "hello over TLS from the cloud CA\n"
            served = run("sh", "-c", "openssl s_client -connect 127.0.0.1:443 -servername localhost "
                         "</dev/null 2>/dev/null | openssl x509", netns=ns).stdout
            cert = x509.load_pem_x509_certificate(served.encode())
            inter = x509.load_pem_x509_certificate(pki.intermediate_pem.encode())
            cert.verify_directly_issued_by(inter)
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
        finally:
            for proc in reversed(procs):
                stop(proc)
    with open(tmp_path / "step-ca.log") as f:
        assert "/acme/acme/new-order" in f.read()
