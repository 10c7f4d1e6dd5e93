"""Shared machinery for Mammatus' own Pulumi resource provider plugins.

A provider is a gRPC server implementing ``pulumirpc.ResourceProvider``. The engine starts the
plugin binary, reads the port from the first line of its stdout and then talks gRPC to
127.0.0.1:<port>. This module holds:

* the wire format of property values (secrets, unknowns, assets/archives) and the conversion
  between ``google.protobuf.Struct`` and plain Python values;
* :class:`ResourceType`, the per-resource-type contract the concrete providers implement with
  plain Python dicts (secrets already unwrapped);
* :class:`ProviderServicer`, which does the protocol work (handshake, configure, secrets
  bookkeeping, preview, errors) around a table of :class:`ResourceType` handlers;
* :func:`serve`, the plugin main loop.
"""
from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
import traceback
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2

from tools.pulumi_protos import load

engine_pb2, engine_pb2_grpc, plugin_pb2, provider_pb2, provider_pb2_grpc = load(
    "engine_pb2", "engine_pb2_grpc", "plugin_pb2", "provider_pb2", "provider_pb2_grpc")

# Signatures of the special objects of the Pulumi property wire format (sdk/go/common/resource/sig).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49ad"
UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]


class _Unknown:
    """The computed (unknown during preview) value."""

    _instance: Optional["_Unknown"] = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Secret:
    """A secret value as it travels on the wire (only when the engine accepts secrets)."""

    value: Any


class ProviderError(Exception):
    """An error to report to the engine (message shown to the user)."""


# ----------------------------------------------------------------------------------------------
# Struct <-> Python
# ----------------------------------------------------------------------------------------------


def _decode(v: Any) -> Any:
    if isinstance(v, float):
        return int(v) if v.is_integer() and math.isfinite(v) else v
    if isinstance(v, str):
        return UNKNOWN if v == UNKNOWN_VALUE else v
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if isinstance(v, dict):
        sig = v.get(SIG_KEY)
        if sig == SECRET_SIG:
            return Secret(_decode(v.get("value")))
        if sig == OUTPUT_SIG:
            inner = _decode(v["value"]) if "value" in v else UNKNOWN
            return Secret(inner) if v.get("secret") else inner
        if sig in (ASSET_SIG, ARCHIVE_SIG, RESOURCE_SIG):
            return {k: (_decode(x) if k == "assets" else x) for k, x in v.items()}
        return {k: _decode(x) for k, x in v.items()}
    return v


def struct_to_dict(s: Optional[struct_pb2.Struct]) -> dict:
    """A property Struct as a dict: numbers that are integral become int, the unknown marker
    becomes :data:`UNKNOWN`, secrets become :class:`Secret`, output values are flattened."""
    if s is None:
        return {}
    return _decode(json_format.MessageToDict(s))


def _encode(v: Any, keep_secrets: bool) -> Any:
    if v is UNKNOWN:
        return UNKNOWN_VALUE
    if isinstance(v, Secret):
        inner = _encode(v.value, keep_secrets)
        return {SIG_KEY: SECRET_SIG, "value": inner} if keep_secrets else inner
    if isinstance(v, dict):
        return {k: _encode(x, keep_secrets) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [_encode(x, keep_secrets) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    raise TypeError(f"cannot encode {type(v).__name__} as a property value")


def dict_to_struct(d: dict, keep_secrets: bool = True) -> struct_pb2.Struct:
    """The inverse of :func:`struct_to_dict`. ``None`` values are dropped (absent properties)."""
    s = struct_pb2.Struct()
    json_format.ParseDict(_encode(d, keep_secrets), s)
    return s


def contains_secret(v: Any) -> bool:
    if isinstance(v, Secret):
        return True
    if isinstance(v, dict):
        return any(contains_secret(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(contains_secret(x) for x in v)
    return False


def reveal(v: Any) -> Any:
    """``v`` with every :class:`Secret` replaced by its plain value."""
    if isinstance(v, Secret):
        return reveal(v.value)
    if isinstance(v, dict):
        return {k: reveal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [reveal(x) for x in v]
    return v


def contains_unknown(v: Any) -> bool:
    if v is UNKNOWN:
        return True
    if isinstance(v, Secret):
        return contains_unknown(v.value)
    if isinstance(v, dict):
        return any(contains_unknown(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(contains_unknown(x) for x in v)
    return False


def split_secrets(props: dict) -> tuple[dict, set[str]]:
    """(plain props, names of the top-level properties that are or contain a secret)."""
    return reveal(props), {k for k, v in props.items() if contains_secret(v)}


# ----------------------------------------------------------------------------------------------
# Logging to the engine
# ----------------------------------------------------------------------------------------------

_current = threading.local()


def bound_logger(severity: int = engine_pb2.INFO, ephemeral: bool = True):
    """A function sending messages about the resource of the current RPC to the engine (shown as
    that resource's status line when ephemeral); usable from other threads. A no-op outside an
    RPC or without an engine address; logging never fails the operation."""
    servicer, urn = getattr(_current, "servicer", None), getattr(_current, "urn", "") or ""
    stub = servicer.engine() if servicer is not None else None

    def send(message: str) -> None:
        if stub is None:
            return
        try:
            stub.Log(engine_pb2.LogRequest(severity=severity, message=message, urn=urn, ephemeral=ephemeral),
                     timeout=10)
        except grpc.RpcError:
            pass

    return send


def log(message: str, severity: int = engine_pb2.INFO, ephemeral: bool = True) -> None:
    bound_logger(severity, ephemeral)(message)


class Interrupt:
    """The stop conditions of the current RPC, for long-running work: the operation's timeout
    (``customTimeouts``) and the engine's ``Cancel``. Capture it in the RPC's thread."""

    def __init__(self):
        servicer = getattr(_current, "servicer", None)
        self.deadline: Optional[float] = getattr(_current, "deadline", None)
        self.cancelled: Optional[threading.Event] = servicer.cancelled if servicer is not None else None

    def reason(self) -> Optional[str]:
        """Why the work must stop now, or None."""
        if self.cancelled is not None and self.cancelled.is_set():
            return "the operation was cancelled"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "the operation timed out (context deadline exceeded)"
        return None

    def wait(self, done, poll: float = 0.1) -> Optional[str]:
        """Wait until ``done()`` is true (None) or the work must stop (the reason)."""
        while not done():
            why = self.reason()
            if why:
                return why
            if self.cancelled is not None:
                self.cancelled.wait(poll)
            else:
                time.sleep(poll)
        return None


# ----------------------------------------------------------------------------------------------
# Resource types
# ----------------------------------------------------------------------------------------------


@dataclass
class DiffResult:
    changes: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    delete_before_replace: bool = False


@dataclass
class CheckFailure:
    property: str
    reason: str


def values_equal(a: Any, b: Any) -> bool:
    """Equality of property values; integral floats equal ints, absent equals None."""
    if contains_unknown(b) or contains_unknown(a):
        return False
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


class ResourceType:
    """One resource type of a provider. Subclasses override what they need.

    All values handed to these methods are plain (secrets revealed); the servicer re-marks as
    secret every output whose input was secret plus :attr:`secret_outputs`.
    """

    token: str = ""
    #: input properties (wire names) with their schema type, for GetSchema and diffing
    inputs: dict[str, str] = {}
    #: computed output properties (wire names) with their schema type
    outputs: dict[str, str] = {}
    required: tuple[str, ...] = ()
    #: outputs that are always secret
    secret_outputs: frozenset[str] = frozenset()
    #: input properties whose change replaces the resource; "*" = every input (terraform-style)
    replace_on: frozenset[str] = frozenset({"*"})
    #: when true, every output is secret as soon as any input is secret (pulumi-go-provider infer)
    outputs_secret_if_any_input_secret: bool = False

    # -- lifecycle -------------------------------------------------------------------------------
    def check(self, olds: dict, news: dict) -> tuple[dict, list[CheckFailure]]:
        failures = [CheckFailure(p, f"Missing required argument: The argument \"{p}\" is required, "
                                    "but no definition was found.")
                    for p in self.required if news.get(p) is None]
        for key, typ in self.inputs.items():
            value = news.get(key)
            if value is None or value is UNKNOWN or typ not in _TYPE_CHECKS:
                continue
            if not _TYPE_CHECKS[typ](value):
                failures.append(CheckFailure(key, f"{key}: expected {typ}, got {_json_type(value)}"))
        return dict(news), failures

    def diff(self, id: str, olds: dict, news: dict, old_inputs: dict) -> DiffResult:
        result = DiffResult()
        before = old_inputs if old_inputs else olds
        for key in sorted(set(self.inputs) | set(news)):
            old = before.get(key)
            new = news.get(key)
            if old is None and new is None:
                continue
            if not values_equal(old, new):
                result.changes.append(key)
                if "*" in self.replace_on or key in self.replace_on:
                    result.replaces.append(key)
        return result

    def create(self, name: str, inputs: dict, preview: bool) -> tuple[str, dict]:
        raise NotImplementedError

    def read(self, id: str, state: dict, inputs: dict) -> tuple[str, dict, dict]:
        """Default: the resource lives only in the state; it is what the state says."""
        return id, state, inputs

    def update(self, id: str, olds: dict, news: dict, old_inputs: dict, preview: bool) -> dict:
        raise ProviderError(f"{self.token} does not support in-place updates")

    def delete(self, id: str, state: dict, old_inputs: dict) -> None:
        return None

    # -- schema ----------------------------------------------------------------------------------
    def schema(self) -> dict:
        def prop(t: str, secret: bool = False) -> dict:
            p = {"type": t} if t in ("string", "integer", "number", "boolean", "object", "array") \
                else {"$ref": t}
            if t == "array":
                p["items"] = {"$ref": "pulumi.json#/Any"}
            if t == "object":
                p["additionalProperties"] = {"$ref": "pulumi.json#/Any"}
            if secret:
                p["secret"] = True
            return p

        ins = {k: prop(t) for k, t in self.inputs.items()}
        outs = dict(ins)
        outs.update({k: prop(t, k in self.secret_outputs) for k, t in self.outputs.items()})
        return {"inputProperties": ins, "properties": outs, "requiredInputs": list(self.required)}


# ----------------------------------------------------------------------------------------------
# The gRPC servicer
# ----------------------------------------------------------------------------------------------


def _rpc(fn):
    """Turn exceptions into gRPC errors the engine shows (ProviderError: message only)."""

    def wrapper(self, request, context):
        _current.servicer, _current.urn = self, getattr(request, "urn", "")
        timeout = float(getattr(request, "timeout", 0) or 0)
        _current.deadline = time.monotonic() + timeout if timeout > 0 else None
        try:
            return fn(self, request, context)
        except ProviderError as e:
            context.abort(grpc.StatusCode.UNKNOWN, str(e))
        except Exception:  # noqa: BLE001 - reported to the engine
            context.abort(grpc.StatusCode.UNKNOWN, traceback.format_exc())
        finally:
            _current.servicer = _current.urn = _current.deadline = None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class ProviderServicer(provider_pb2_grpc.ResourceProviderServicer):
    """ResourceProvider over a table of :class:`ResourceType` handlers."""

    def __init__(self, name: str, version: str, resources: Iterable[ResourceType],
                 engine_address: str = "", functions: Optional[dict] = None):
        self.name = name
        self.version = version
        self.resources = {r.token: r for r in resources}
        #: function token -> callable(args, preview, secret arg names) -> (result, failures, secret keys)
        self.functions = dict(functions or {})
        # Until Configure says otherwise, assume an engine that does not understand secrets.
        self.accept_secrets = False
        self.config: dict = {}
        self.engine_address = engine_address
        self.cancelled = threading.Event()
        self._engine_stub = None
        self._engine_lock = threading.Lock()

    def engine(self):
        """A stub for the engine's Engine service (logging), or None without an address."""
        if not self.engine_address:
            return None
        with self._engine_lock:
            if self._engine_stub is None:
                channel = grpc.insecure_channel(self.engine_address, options=_GRPC_OPTIONS)
                self._engine_stub = engine_pb2_grpc.EngineStub(channel)
            return self._engine_stub

    # -- helpers ---------------------------------------------------------------------------------
    def _resource(self, urn: str, type_: str = "") -> ResourceType:
        token = type_ or (urn.split("::")[2].split("$")[-1] if urn.count("::") >= 3 else "")
        try:
            return self.resources[token]
        except KeyError:
            raise ProviderError(f"unknown resource type {token!r} for provider {self.name}") from None

    def _struct(self, d: dict) -> struct_pb2.Struct:
        return dict_to_struct(d, keep_secrets=self.accept_secrets)

    @staticmethod
    def _mark(res: ResourceType, outputs: dict, secret_inputs: set[str]) -> dict:
        secret_keys = set(secret_inputs) | set(res.secret_outputs)
        if res.outputs_secret_if_any_input_secret and secret_inputs:
            secret_keys |= set(outputs)
        return {k: (Secret(v) if k in secret_keys and v is not None and not isinstance(v, Secret)
                    else v)
                for k, v in outputs.items()}

    # -- plugin / configuration ------------------------------------------------------------------
    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=self.version)

    def Handshake(self, request, context):
        if request.engine_address:
            self.engine_address = request.engine_address
        return provider_pb2.ProviderHandshakeResponse(
            accept_secrets=True, accept_resources=True, accept_outputs=False)

    def GetSchema(self, request, context):
        schema = {
            "name": self.name,
            "version": self.version,
            "description": f"Mammatus' own implementation of the {self.name} provider",
            "resources": {tok: r.schema() for tok, r in sorted(self.resources.items())},
            "functions": {tok: {"inputs": {"properties": {}}, "outputs": {"properties": {}}}
                          for tok in sorted(self.functions)},
        }
        return provider_pb2.GetSchemaResponse(schema=json.dumps(schema))

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        olds = {k: v for k, v in struct_to_dict(request.olds).items() if k != "version"}
        news = {k: v for k, v in struct_to_dict(request.news).items() if k != "version"}
        changed = sorted(k for k in set(olds) | set(news) if not values_equal(olds.get(k), news.get(k)))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changed)

    def Configure(self, request, context):
        self.accept_secrets = bool(request.acceptSecrets)
        self.config = reveal(struct_to_dict(request.args)) if request.HasField("args") else dict(request.variables)
        return provider_pb2.ConfigureResponse(
            acceptSecrets=True, supportsPreview=True, acceptResources=True, acceptOutputs=False)

    def Invoke(self, request, context):
        if request.tok not in self.functions:
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          f"{self.name}: function {request.tok!r} is not implemented by Mammatus' provider")
        return self._invoke(request, context)

    @_rpc
    def _invoke(self, request, context):
        fn = self.functions[request.tok]
        args, secret_args = split_secrets(struct_to_dict(request.args))
        result, failures, secret_keys = fn(args, bool(request.preview), secret_args)
        marked = {k: (Secret(v) if k in secret_keys and v is not None else v) for k, v in result.items()}
        return provider_pb2.InvokeResponse(
            failures=[provider_pb2.CheckFailure(property=f.property, reason=f.reason) for f in failures],
            **({"return": self._struct(marked)} if not failures else {}))

    def Cancel(self, request, context):
        """The engine is shutting down (e.g. Ctrl-C): running commands are stopped."""
        self.cancelled.set()
        return empty_pb2.Empty()

    # -- resources -------------------------------------------------------------------------------
    @_rpc
    def Check(self, request, context):
        res = self._resource(request.urn, request.type)
        olds_raw, news_raw = struct_to_dict(request.olds), struct_to_dict(request.news)
        olds, _ = split_secrets(olds_raw)
        news, secret_inputs = split_secrets(news_raw)
        inputs, failures = res.check(olds, news)
        marked = {k: (Secret(v) if k in secret_inputs and v is not None else v) for k, v in inputs.items()}
        return provider_pb2.CheckResponse(
            inputs=self._struct(marked),
            failures=[provider_pb2.CheckFailure(property=f.property, reason=f.reason) for f in failures])

    @_rpc
    def Diff(self, request, context):
        res = self._resource(request.urn, request.type)
        olds = reveal(struct_to_dict(request.olds))
        news = reveal(struct_to_dict(request.news))
        old_inputs = reveal(struct_to_dict(request.old_inputs))
        ignore = set(request.ignoreChanges)
        result = res.diff(request.id, olds, news, old_inputs)
        changes = [k for k in result.changes if k not in ignore]
        replaces = [k for k in result.replaces if k in changes]
        detailed = {}
        for k in changes:
            old_present = olds.get(k, old_inputs.get(k)) is not None
            new_present = news.get(k) is not None
            rep = k in replaces
            P = provider_pb2.PropertyDiff
            if k not in res.inputs:
                kind = P.UPDATE_REPLACE if rep else P.UPDATE
            elif not old_present:
                kind = P.ADD_REPLACE if rep else P.ADD
            elif not new_present:
                kind = P.DELETE_REPLACE if rep else P.DELETE
            else:
                kind = P.UPDATE_REPLACE if rep else P.UPDATE
            detailed[k] = P(kind=kind, inputDiff=True)
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changes else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changes, replaces=replaces, deleteBeforeReplace=result.delete_before_replace,
            detailedDiff=detailed, hasDetailedDiff=True)

    @_rpc
    def Create(self, request, context):
        res = self._resource(request.urn, request.type)
        inputs, secret_inputs = split_secrets(struct_to_dict(request.properties))
        name = request.name or request.urn.split("::")[-1]
        id_, outputs = res.create(name, inputs, bool(request.preview))
        return provider_pb2.CreateResponse(
            id=id_ or "", properties=self._struct(self._mark(res, outputs, secret_inputs)))

    @_rpc
    def Read(self, request, context):
        res = self._resource(request.urn, request.type)
        state, secret_state = split_secrets(struct_to_dict(request.properties))
        inputs, secret_inputs = split_secrets(struct_to_dict(request.inputs))
        id_, outputs, new_inputs = res.read(request.id, state, inputs)
        if not id_:
            return provider_pb2.ReadResponse(id="")
        fields = {"id": id_, "properties": self._struct(self._mark(res, outputs, secret_state | secret_inputs))}
        if new_inputs:
            fields["inputs"] = self._struct(
                {k: (Secret(v) if k in (secret_inputs | secret_state) and v is not None else v)
                 for k, v in new_inputs.items()})
        return provider_pb2.ReadResponse(**fields)

    @_rpc
    def Update(self, request, context):
        res = self._resource(request.urn, request.type)
        olds, secret_olds = split_secrets(struct_to_dict(request.olds))
        news, secret_news = split_secrets(struct_to_dict(request.news))
        old_inputs = reveal(struct_to_dict(request.old_inputs))
        outputs = res.update(request.id, olds, news, old_inputs, bool(request.preview))
        return provider_pb2.UpdateResponse(properties=self._struct(self._mark(res, outputs, secret_news)))

    @_rpc
    def Delete(self, request, context):
        res = self._resource(request.urn, request.type)
        state = reveal(struct_to_dict(request.properties))
        old_inputs = reveal(struct_to_dict(request.old_inputs))
        res.delete(request.id, state, old_inputs)
        return empty_pb2.Empty()


# ----------------------------------------------------------------------------------------------
# Plugin main
# ----------------------------------------------------------------------------------------------


def start_server(servicer: ProviderServicer, max_workers: int = 64) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=_GRPC_OPTIONS)
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    if not port:
        raise RuntimeError("could not bind a port on 127.0.0.1")
    server.start()
    return server, port


def engine_address_from_argv(argv: list[str]) -> str:
    """The engine passes its gRPC address as the first non-flag argument."""
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg in ("--tracing", "--logflow", "--logtostderr") or arg.startswith("-"):
            skip_next = arg == "--tracing"
            continue
        return arg
    return ""


def serve(servicer: ProviderServicer, argv: Optional[list[str]] = None) -> None:
    """Plugin main: listen on 127.0.0.1:0, print the port as the first stdout line, serve until
    SIGINT/SIGTERM. The engine's address (first argument) is used for logging; flags such as -v,
    --logtostderr, --tracing are accepted and ignored."""
    if not servicer.engine_address:
        servicer.engine_address = engine_address_from_argv(sys.argv[1:] if argv is None else argv)
    server, port = start_server(servicer)
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop.wait(3600):
        pass
    server.stop(grace=2).wait()
