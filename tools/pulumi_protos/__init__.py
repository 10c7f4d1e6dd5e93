"""The Pulumi SDK's protobuf and gRPC stubs, without the SDK.

`from pulumi.runtime.proto import x_pb2` runs `pulumi/__init__.py` first, which imports the whole
SDK (about 0.2 s on these cores), and every plugin process of ours (the command, tls and random
providers, the language host) starts at each `preview` and `up`. `load("provider_pb2", …)` loads
just those modules from the installed SDK: the parent packages stand in as bare packages while
they load, and are taken out of sys.modules afterwards, so a later `import pulumi` in the same
process runs the real SDK and finds the same stub modules (through `from … import x_pb2`, as
the SDK itself imports them; not as attributes of pulumi.runtime.proto).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

PACKAGE = "pulumi.runtime.proto"


def load(*names: str) -> list[types.ModuleType]:
    if "pulumi" in sys.modules:          # the SDK is already there: nothing to save
        return [importlib.import_module(f"{PACKAGE}.{n}") for n in names]
    root = importlib.util.find_spec("pulumi")
    if root is None or not root.submodule_search_locations:
        raise ImportError("the pulumi SDK is not installed")
    base = list(root.submodule_search_locations)[0]
    bare = {"pulumi": base, "pulumi.runtime": f"{base}/runtime",
            "pulumi.runtime.proto": f"{base}/runtime/proto"}
    for name, path in bare.items():
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    try:
        return [importlib.import_module(f"{PACKAGE}.{n}") for n in names]
    finally:
        for name in bare:
            del sys.modules[name]
