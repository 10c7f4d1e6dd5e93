import pytest

from tests.support.nats import NatsServer
from tests.support.pki import make_pki, write_server_files
from .procs import Service, client, write_credentials


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqs_service(nats_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("sqs")
    creds = write_credentials(d / "credentials")
    svc = Service("services.sqs", ["--nats", nats_server.url, "--credentials", str(creds)],
                  d / "sqs.log").start()
    yield svc
    svc.stop()


@pytest.fixture
def sqs(sqs_service):
    return client("sqs", sqs_service.endpoint)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A throwaway CA standing in for the cloud's step-ca: its root, and a certificate it issued
    for 127.0.0.1 (leaf then intermediate, as full_chain writes it)."""
    return write_server_files(tmp_path_factory.mktemp("tls"), make_pki())


@pytest.fixture(scope="session")
def tls_sqs_service(nats_server, tls_files, tmp_path_factory):
    d = tmp_path_factory.mktemp("tls-sqs")
    creds = write_credentials(d / "credentials")
    svc = Service("services.sqs", ["--nats", nats_server.url, "--credentials", str(creds),
                                   "--tls-cert", tls_files.cert, "--tls-key", tls_files.key,
                                   "--log-level", "INFO"],
                  d / "sqs.log", scheme="https").start()
    yield svc
    svc.stop()
