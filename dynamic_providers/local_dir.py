"""A directory on the machine that runs Pulumi, as a resource (the dev stack's host roots live here).

Pure helpers decide; the provider only touches the filesystem in its CRUD methods.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.base import MammatusProvider


def normalize(inputs: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Validates and fills defaults: an absolute path and an octal mode string like "0755"."""
    failures = []
    path = inputs.get("path")
    mode = str(inputs.get("mode", "0755"))
    if not isinstance(path, str) or not os.path.isabs(path) or os.path.normpath(path) == "/":
        failures.append(CheckFailure("path", f"must be an absolute path other than /, got {path!r}"))
    try:
        if not 0 <= int(mode, 8) <= 0o7777:
            raise ValueError
    except ValueError:
        failures.append(CheckFailure("mode", f"must be an octal mode like 0755, got {mode!r}"))
    return {"path": os.path.normpath(path) if isinstance(path, str) else path, "mode": mode}, failures


def missing_parents(path: str) -> list[str]:
    """The ancestors of `path` that do not exist yet, deepest first (what makedirs will make)."""
    missing = []
    parent = os.path.dirname(os.path.normpath(path))
    while parent and parent != "/" and not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    return missing


def observed(path: str) -> dict[str, Any] | None:
    """What is on disk, in the shape of the resource's outputs; None when the directory is gone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return {"path": path, "mode": f"{stat.S_IMODE(st.st_mode):04o}"}


def _view(props: dict[str, Any]) -> dict[str, Any]:
    return {"path": props.get("path"), "mode": props.get("mode")}


class LocalDirectoryProvider(MammatusProvider):
    immutable = ("path",)
    delete_before_replace = False

    def view(self, props):
        return _view(props)

    def check(self, _olds, news):
        inputs, failures = normalize(news)
        return CheckResult(inputs, failures)

    def create(self, props):
        parents = missing_parents(props["path"])
        os.makedirs(props["path"], exist_ok=True)
        os.chmod(props["path"], int(props["mode"], 8))
        return CreateResult(id_=props["path"], outs={**observed(props["path"]),
                                                     "created_parents": parents})

    def read(self, id_, props):
        outs = observed(id_)
        if outs is None:
            return ReadResult(None, {})
        # Inputs as found, so a refresh followed by `up` repairs a hand-changed mode.
        return ReadResult(id_, {**outs, "created_parents": props.get("created_parents") or []}, outs)

    def update(self, _id, olds, news):
        os.chmod(news["path"], int(news["mode"], 8))
        return UpdateResult(outs={**observed(news["path"]),
                                  "created_parents": olds.get("created_parents") or []})

    def delete(self, id_, props):
        shutil.rmtree(id_, ignore_errors=True)
        # The parents this resource made go too, when nothing else has moved in since.
        for parent in props.get("created_parents") or []:
            try:
                os.rmdir(parent)
            except OSError:
                break


class LocalDirectory(pulumi.dynamic.Resource, module="mammatus", name="LocalDirectory"):
    path: pulumi.Output[str]
    mode: pulumi.Output[str]

    def __init__(self, name: str, path: pulumi.Input[str], mode: pulumi.Input[str] = "0755",
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalDirectoryProvider(), name, {"path": path, "mode": mode}, opts)
