"""The protocol layer shared by Mammatus' providers (tools/providers/_base.py)."""
import json

import pytest
from pulumi.runtime.proto import provider_pb2

from tools.providers import _base, command, random, tls
from tools.providers._base import (
    SIG_KEY, UNKNOWN, UNKNOWN_VALUE, Secret, dict_to_struct, struct_to_dict)
from tests.unit.tools.helpers import Client, FakeContext, expect_abort, secret


def test_struct_roundtrip_keeps_secrets_unknowns_and_ints():
    wire = {"a": 3, "b": 2.5, "s": secret("pw"), "u": UNKNOWN_VALUE, "l": [1, secret({"x": 1})],
            "m": {"k": "v"}, "t": True}
    d = struct_to_dict(dict_to_struct(wire, keep_secrets=True))
    # dict_to_struct of raw wire dicts is the identity; decoding interprets the signatures
    assert d["a"] == 3 and isinstance(d["a"], int)
    assert d["b"] == 2.5
    assert d["s"] == Secret("pw")
    assert d["u"] is UNKNOWN
    assert d["l"] == [1, Secret({"x": 1})]
    assert d["m"] == {"k": "v"} and d["t"] is True


def test_encoding_secrets_depends_on_accept_secrets():
    kept = struct_to_dict(dict_to_struct({"s": Secret("x")}, keep_secrets=True))
    assert kept == {"s": Secret("x")}
    stripped = dict_to_struct({"s": Secret("x"), "n": None}, keep_secrets=False)
    assert dict(stripped) == {"s": "x"}


def test_output_values_are_flattened():
    wire = {"o": {SIG_KEY: _base.OUTPUT_SIG, "value": "v", "secret": True},
            "p": {SIG_KEY: _base.OUTPUT_SIG}}
    d = struct_to_dict(dict_to_struct(wire))
    assert d == {"o": Secret("v"), "p": UNKNOWN}


@pytest.mark.parametrize("mod,package", [(random, "pulumi_random"), (tls, "pulumi_tls"),
                                         (command, "pulumi_command")])
def test_plugin_info_is_the_sdk_version(mod, package):
    import importlib.metadata
    info = mod.make_servicer().GetPluginInfo(None, FakeContext())
    assert info.version == importlib.metadata.version(package.replace("_", "-"))


@pytest.mark.parametrize("mod", [random, tls, command])
def test_schema_is_valid_json_naming_every_resource(mod):
    s = mod.make_servicer()
    schema = json.loads(s.GetSchema(provider_pb2.GetSchemaRequest(), FakeContext()).schema)
    assert schema["name"] == mod.NAME
    assert set(schema["resources"]) == set(s.resources)
    for r in schema["resources"].values():
        assert set(r["inputProperties"]) <= set(r["properties"])


def test_handshake_and_configure_agree_on_capabilities():
    s = random.make_servicer()
    hs = s.Handshake(provider_pb2.ProviderHandshakeRequest(), FakeContext())
    cfg = s.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True, acceptResources=True), FakeContext())
    assert (hs.accept_secrets, hs.accept_resources, hs.accept_outputs) == \
        (cfg.acceptSecrets, cfg.acceptResources, cfg.acceptOutputs) == (True, True, False)
    assert cfg.supportsPreview


def test_check_config_and_diff_config():
    s = random.make_servicer()
    news = dict_to_struct({"version": "4.21.4"})
    assert s.CheckConfig(provider_pb2.CheckRequest(news=news), FakeContext()).inputs == news
    d = s.DiffConfig(provider_pb2.DiffRequest(olds=dict_to_struct({"version": "1"}), news=news), FakeContext())
    assert d.changes == provider_pb2.DiffResponse.DIFF_NONE
    d = s.DiffConfig(provider_pb2.DiffRequest(olds=dict_to_struct({"a": "1"}), news=news), FakeContext())
    assert d.changes == provider_pb2.DiffResponse.DIFF_SOME


def test_unknown_resource_type_is_an_error():
    c = Client(random.make_servicer())
    msg = expect_abort(c.create, "random:index/nope:Nope", {})
    assert "unknown resource type" in msg


def test_secrets_without_accept_secrets_are_plain():
    c = Client(random.make_servicer(), accept_secrets=False)
    inputs = c.checked(random.RandomPassword.token, {"length": 8})
    _, outs = c.create(random.RandomPassword.token, inputs)
    assert isinstance(outs["result"], str) and len(outs["result"]) == 8


def test_invoke_is_unimplemented():
    s = tls.make_servicer()
    msg = expect_abort(s.Invoke, provider_pb2.InvokeRequest(tok="tls:index/getCertificate:getCertificate"),
                       FakeContext())
    assert "not implemented" in msg


def test_start_server_binds_loopback():
    server, port = _base.start_server(random.make_servicer())
    try:
        assert 0 < port < 65536
    finally:
        server.stop(None)


@pytest.mark.parametrize("mod,token,news,prop", [
    (random, "random:index/randomPassword:RandomPassword", {"length": "20"}, "length"),
    (random, "random:index/randomPassword:RandomPassword", {"length": 20, "special": "no"}, "special"),
    (tls, "tls:index/privateKey:PrivateKey", {"algorithm": 1}, "algorithm"),
    (command, "command:local:Command", {"create": ["echo"]}, "create"),
    (command, "command:local:Command", {"environment": "A=1"}, "environment"),
])
def test_check_reports_wrongly_typed_inputs(mod, token, news, prop):
    _, failures = Client(mod.make_servicer()).check(token, news)
    assert any(p == prop and "expected" in r for p, r in failures), failures
