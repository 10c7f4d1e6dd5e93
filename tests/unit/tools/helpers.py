"""Calling a provider servicer directly, the way the engine would over gRPC."""
from __future__ import annotations

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2

from tools.providers._base import (
    SECRET_SIG, SIG_KEY, UNKNOWN_VALUE, dict_to_struct, struct_to_dict)


class Aborted(Exception):
    def __init__(self, code, details):
        super().__init__(f"{code}: {details}")
        self.code, self.details = code, details


class FakeContext:
    """The bits of grpc.ServicerContext the servicers use."""

    def abort(self, code, details):
        raise Aborted(code, details)

    def set_code(self, code):
        self.code = code

    def set_details(self, details):
        self.details = details


def secret(v):
    return {SIG_KEY: SECRET_SIG, "value": v}


UNKNOWN = UNKNOWN_VALUE


def urn(token: str, name: str = "r") -> str:
    pkg, mod, typ = token.split(":")
    return f"urn:pulumi:dev::proj::{pkg}:{mod.split('/')[0]}:{typ}::{name}"


class Client:
    """Engine-side view of a servicer: plain dicts in, plain dicts (wire format) out."""

    def __init__(self, servicer, accept_secrets: bool = True):
        self.s = servicer
        self.ctx = FakeContext()
        self.s.Configure(provider_pb2.ConfigureRequest(acceptSecrets=accept_secrets, acceptResources=True,
                                                       args=dict_to_struct({})), self.ctx)

    def check(self, token, news, olds=None, name="r"):
        resp = self.s.Check(provider_pb2.CheckRequest(
            urn=urn(token, name), type=token, name=name, news=_wire(news), olds=_wire(olds or {})), self.ctx)
        return _raw(resp.inputs), [(f.property, f.reason) for f in resp.failures]

    def checked(self, token, news, name="r"):
        inputs, failures = self.check(token, news, name=name)
        assert failures == []
        return inputs

    def create(self, token, props, preview=False, name="r"):
        resp = self.s.Create(provider_pb2.CreateRequest(
            urn=urn(token, name), type=token, name=name, properties=_wire(props), preview=preview), self.ctx)
        return resp.id, _raw(resp.properties)

    def diff(self, token, olds, news, old_inputs=None, id="id", ignore=()):
        return self.s.Diff(provider_pb2.DiffRequest(
            id=id, urn=urn(token), type=token, olds=_wire(olds), news=_wire(news),
            old_inputs=_wire(old_inputs or {}), ignoreChanges=list(ignore)), self.ctx)

    def update(self, token, olds, news, preview=False, id="id", old_inputs=None):
        resp = self.s.Update(provider_pb2.UpdateRequest(
            id=id, urn=urn(token), type=token, olds=_wire(olds), news=_wire(news), preview=preview,
            old_inputs=_wire(old_inputs or {})), self.ctx)
        return _raw(resp.properties)

    def read(self, token, id, props, inputs=None):
        resp = self.s.Read(provider_pb2.ReadRequest(
            id=id, urn=urn(token), type=token, properties=_wire(props), inputs=_wire(inputs or {})), self.ctx)
        return resp.id, _raw(resp.properties), _raw(resp.inputs)

    def invoke(self, tok, args, preview=False):
        resp = self.s.Invoke(provider_pb2.InvokeRequest(tok=tok, args=_wire(args), preview=preview), self.ctx)
        return _raw(getattr(resp, "return")), [(f.property, f.reason) for f in resp.failures]

    def delete(self, token, id, props):
        return self.s.Delete(provider_pb2.DeleteRequest(id=id, urn=urn(token), type=token,
                                                        properties=_wire(props)), self.ctx)


def _wire(d: dict):
    """A dict already in wire format (secrets as signature objects) as a Struct."""
    from google.protobuf import json_format, struct_pb2
    s = struct_pb2.Struct()
    json_format.ParseDict(d, s)
    return s


def _raw(s) -> dict:
    """A Struct as a JSON dict in wire format (secrets stay signature objects)."""
    from google.protobuf import json_format
    d = json_format.MessageToDict(s)

    def ints(v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: ints(x) for k, x in v.items()}
        if isinstance(v, list):
            return [ints(x) for x in v]
        return v
    return ints(d)


def is_secret(v) -> bool:
    return isinstance(v, dict) and v.get(SIG_KEY) == SECRET_SIG


def plain(v):
    return v["value"] if is_secret(v) else v


def expect_abort(fn, *args, **kwargs) -> str:
    with pytest.raises(Aborted) as ei:
        fn(*args, **kwargs)
    assert ei.value.code == grpc.StatusCode.UNKNOWN or ei.value.code == grpc.StatusCode.UNIMPLEMENTED
    return ei.value.details


__all__ = ["Client", "FakeContext", "Aborted", "secret", "UNKNOWN", "is_secret", "plain", "expect_abort",
           "struct_to_dict", "dict_to_struct"]
