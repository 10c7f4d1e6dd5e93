import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.integration.services.sqs.conftest import (nats_server, sqs_service, tls_files,  # noqa: F401
                                                     tls_sqs_service)
from tests.integration.services.sqs.procs import Service, client, write_credentials


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A throwaway CA standing in for the cloud's step-ca, and a signing cert it issued to SNS."""
    d = tmp_path_factory.mktemp("ca")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(_name("Mammatus Test CA")).issuer_name(_name("Mammatus Test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("sns.mammatus.test")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    # a server certificate for an https subscriber on 127.0.0.1
    import ipaddress
    web_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    web = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
           .public_key(web_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
           .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                          critical=False)
           .sign(ca_key, hashes.SHA256()))
    (d / "web.pem").write_bytes(web.public_bytes(serialization.Encoding.PEM))
    (d / "web.key").write_bytes(web_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "sns.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "sns.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return d


@pytest.fixture(scope="session")
def sns_service(nats_server, sqs_service, test_ca, tmp_path_factory):  # noqa: F811
    d = tmp_path_factory.mktemp("sns")
    creds = write_credentials(d / "credentials")
    svc = Service("services.sns", [
        "--nats", nats_server.url, "--credentials", str(creds),
        "--signing-cert", str(test_ca / "sns.pem"), "--signing-key", str(test_ca / "sns.key"),
        "--sqs-endpoint", sqs_service.endpoint, "--sqs-credentials", str(creds),
        "--ca-file", str(test_ca / "ca.pem"), "--log-level", "INFO"], d / "sns.log")
    svc.args += ["--public-url", f"http://127.0.0.1:{svc.port}"]
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture
def sns(sns_service):
    return client("sns", sns_service.endpoint)


@pytest.fixture
def sqs(sqs_service):  # noqa: F811
    return client("sqs", sqs_service.endpoint)


def tls_sns(nats_server, sqs_endpoint: str, test_ca, tls_files, ca_file: str, d) -> Service:  # noqa: F811
    """SNS over HTTPS (the public URL defaults to https), delivering to `sqs_endpoint` and
    verifying it against `ca_file`."""
    creds = write_credentials(d / "credentials")
    return Service("services.sns", [
        "--nats", nats_server.url, "--credentials", str(creds),
        "--signing-cert", str(test_ca / "sns.pem"), "--signing-key", str(test_ca / "sns.key"),
        "--tls-cert", tls_files.cert, "--tls-key", tls_files.key,
        "--sqs-endpoint", sqs_endpoint, "--sqs-credentials", str(creds),
        "--ca-file", ca_file, "--log-level", "INFO"], d / "sns.log", scheme="https")


@pytest.fixture(scope="session")
def tls_sns_service(tls_sqs_service, test_ca, tls_files, tmp_path_factory):  # noqa: F811
    # A NATS of its own: SNS processes on one NATS share the deliveries, and the plain-HTTP
    # SNS of the other tests would then build some of this one's envelopes (http:// URLs).
    from tests.support.nats import NatsServer

    nats = NatsServer(tmp_path_factory.mktemp("tls-sns-nats")).start()
    svc = tls_sns(nats, tls_sqs_service.endpoint, test_ca, tls_files, tls_files.root,
                  tmp_path_factory.mktemp("tls-sns")).start()
    yield svc
    svc.stop()
    nats.stop()
