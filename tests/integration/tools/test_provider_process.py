"""Each provider as the engine runs it: a subprocess that prints its port, then gRPC on 127.0.0.1."""
import importlib.metadata
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from tools.providers._base import SECRET_SIG, SIG_KEY, dict_to_struct, struct_to_dict, Secret

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def start(module: str) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # the engine passes its own address as the first argument; the plugin must accept it
    proc = subprocess.Popen([sys.executable, "-u", "-m", f"tools.providers.{module}", "127.0.0.1:1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip().isdigit(), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, int(line)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("module,package", [("random", "pulumi-random"), ("tls", "pulumi-tls"),
                                            ("command", "pulumi-command")])
def test_plugin_info_over_grpc(module, package):
    proc, port = start(module)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = provider_pb2_grpc.ResourceProviderStub(ch)
            info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
            assert info.version == importlib.metadata.version(package)
    finally:
        assert stop(proc) == 0


def test_random_password_lifecycle_over_grpc():
    token = "random:index/randomPassword:RandomPassword"
    urn = "urn:pulumi:dev::p::random:index/randomPassword:RandomPassword::pw"
    proc, port = start("random")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = provider_pb2_grpc.ResourceProviderStub(ch)
            hs = stub.Handshake(provider_pb2.ProviderHandshakeRequest(engine_address="127.0.0.1:1"), timeout=30)
            assert hs.accept_secrets
            cfg = stub.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True, acceptResources=True,
                                                               args=dict_to_struct({"version": "4.21.4"})),
                                 timeout=30)
            assert cfg.acceptSecrets and cfg.supportsPreview
            chk = stub.Check(provider_pb2.CheckRequest(urn=urn, type=token, name="pw",
                                                       news=dict_to_struct({"length": 0})), timeout=30)
            assert [f.property for f in chk.failures] == ["length"]
            chk = stub.Check(provider_pb2.CheckRequest(urn=urn, type=token, name="pw",
                                                       news=dict_to_struct({"length": 16})), timeout=30)
            assert list(chk.failures) == []
            created = stub.Create(provider_pb2.CreateRequest(urn=urn, type=token, name="pw",
                                                             properties=chk.inputs), timeout=30)
            assert created.id == "none"
            raw = created.properties["result"]
            assert raw[SIG_KEY] == SECRET_SIG and len(raw["value"]) == 16
            outs = struct_to_dict(created.properties)
            assert isinstance(outs["bcryptHash"], Secret)
            diff = stub.Diff(provider_pb2.DiffRequest(id="none", urn=urn, type=token, olds=created.properties,
                                                      news=chk.inputs, old_inputs=chk.inputs), timeout=30)
            assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE
            stub.Delete(provider_pb2.DeleteRequest(id="none", urn=urn, type=token,
                                                   properties=created.properties), timeout=30)
            with pytest.raises(grpc.RpcError) as ei:
                stub.Create(provider_pb2.CreateRequest(urn=urn, type="random:index/x:X", name="x"), timeout=30)
            assert "unknown resource type" in ei.value.details()
    finally:
        assert stop(proc) == 0
