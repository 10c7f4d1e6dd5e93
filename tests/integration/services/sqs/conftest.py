import pytest

from tests.support.nats import NatsServer
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
