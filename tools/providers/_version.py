"""The plugin version = the version of the installed Python SDK (its pulumi-plugin.json), so the
engine finds exactly the plugin version the SDK asks for."""
from __future__ import annotations

import importlib.util
import json
import os


def sdk_version(package: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Python SDK {package} is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "pulumi-plugin.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)["version"]
