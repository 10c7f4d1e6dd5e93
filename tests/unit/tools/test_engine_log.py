"""Command output streamed to the engine's Log service (as upstream), per the `logging` input."""
from concurrent import futures

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2_grpc, provider_pb2

from tools.providers import command
from tools.providers._base import engine_address_from_argv
from tests.unit.tools.helpers import Client, urn

LOCAL = command.LocalCommand.token


class FakeEngine(engine_pb2_grpc.EngineServicer):
    def __init__(self):
        self.logs = []

    def Log(self, request, context):
        self.logs.append(request)
        return empty_pb2.Empty()


@pytest.fixture
def engine():
    fake = FakeEngine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, f"127.0.0.1:{port}"
    server.stop(None)


def client_with_engine(address):
    s = command.make_servicer()
    s.Handshake(provider_pb2.ProviderHandshakeRequest(engine_address=address), None)
    return Client(s)


@pytest.mark.parametrize("logging,expected", [
    (None, {"out1", "out2", "err1"}),
    ("stdout", {"out1", "out2"}),
    ("stderr", {"err1"}),
    ("none", set()),
])
def test_command_output_is_logged(engine, logging, expected):
    fake, address = engine
    c = client_with_engine(address)
    props = {"create": "echo out1; echo err1 >&2; printf out2"}
    if logging:
        props["logging"] = logging
    _, outs = c.create(LOCAL, c.checked(LOCAL, props), name="cmd")
    assert outs["stdout"] == "out1\nout2"  # logging never changes the outputs
    assert {r.message for r in fake.logs} == expected
    assert all(r.urn == urn(LOCAL, "cmd") and r.ephemeral for r in fake.logs)


def test_no_engine_no_logging():
    c = Client(command.make_servicer())
    _, outs = c.create(LOCAL, c.checked(LOCAL, {"create": "echo x"}))
    assert outs["stdout"] == "x"


def test_engine_address_from_argv():
    assert engine_address_from_argv(["127.0.0.1:1234"]) == "127.0.0.1:1234"
    assert engine_address_from_argv(["--logtostderr", "-v=9", "--tracing", "http://t", "127.0.0.1:5"]) \
        == "127.0.0.1:5"
    assert engine_address_from_argv([]) == ""
