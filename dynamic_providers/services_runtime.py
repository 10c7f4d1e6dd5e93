"""Mammatus' services installed on a host from their bundle (tools/dist/bundle.py), already
delivered there as an Artifact: a venv made with the host's python3 and
`pip install --no-index --require-hashes` from the bundle's own wheels, in a release folder
named by the bundle's digest:

    <root>/releases/<digest16>/venv/bin/python     what daemons run (`-m services.<name>`)
    <root>/releases/<digest16>/src                 their PYTHONPATH
    <root>/releases/<digest16>/.complete           written last: a half-made release is redone

`read` checks the marker, so a removed venv is found by refresh and rebuilt by `up`. The
release before the current one is kept (a daemon not yet restarted may still import from it);
older ones are removed.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.transport import transport
from dynamic_providers.base import MammatusProvider

IMMUTABLE = ("host", "root")


def release_dir(root: str, sha256: str) -> str:
    return posixpath.join(root, "releases", sha256[:16])


def python_of(root: str, sha256: str) -> str:
    return posixpath.join(release_dir(root, sha256), "venv", "bin", "python")


def source_of(root: str, sha256: str) -> str:
    return posixpath.join(release_dir(root, sha256), "src")


def install_command(bundle: str, root: str, sha256: str, python: str = "/usr/bin/python3") -> str:
    rel, q = release_dir(root, sha256), shlex.quote
    return "\n".join([
        "set -e",
        f"if [ ! -f {q(rel)}/.complete ] || [ ! -x {q(rel)}/venv/bin/python ]; then",
        f"  rm -rf {q(rel)} && mkdir -p {q(rel)}",
        f"  tar -xf {q(bundle)} -C {q(rel)}",
        f"  {q(python)} -m venv {q(rel)}/venv",
        f"  {q(rel)}/venv/bin/python -m pip install --quiet --disable-pip-version-check "
        f"--no-index --no-deps --require-hashes --find-links {q(rel)}/wheels -r {q(rel)}/requirements.lock",
        f"  rm -rf {q(rel)}/wheels",
        f"  touch {q(rel)}/.complete",
        "fi",
        f"touch {q(rel)}",   # newest first below
        # Keep this release and the one before; older ones go.
        f"ls -1td {q(root)}/releases/*/ | tail -n +3 | xargs -r rm -rf",
    ])


def check_command(root: str, sha256: str) -> str:
    rel = shlex.quote(release_dir(root, sha256))
    return f"if [ -f {rel}/.complete ] && [ -x {rel}/venv/bin/python ]; then echo present; fi"


def normalize(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    props = {"connection": news.get("connection") or None, "bundle": news.get("bundle", ""),
             "sha256": str(news.get("sha256") or "").lower(), "root": news.get("root", ""),
             "python": news.get("python") or "/usr/bin/python3"}
    failures = []
    for key in ("bundle", "root"):
        if not isinstance(props[key], str) or not posixpath.isabs(props[key]):
            failures.append(CheckFailure(key, f"must be an absolute path, got {props[key]!r}"))
    if len(props["sha256"]) != 64:
        failures.append(CheckFailure("sha256", "must be the bundle's sha256 (64 hex digits)"))
    return props, failures


def view(props: dict[str, Any]) -> dict[str, Any]:
    return {"host": (props.get("connection") or {}).get("host", ""), "root": props.get("root"),
            "sha256": props.get("sha256"), "python": props.get("python")}


class ServicesRuntimeProvider(MammatusProvider):
    immutable = IMMUTABLE

    def view(self, props):
        return view(props)

    def check(self, _olds, news):
        props, failures = normalize(news)
        return CheckResult(props, failures)

    def _install(self, props) -> dict:
        with transport(props["connection"]) as t:
            t.run(install_command(props["bundle"], props["root"], props["sha256"], props["python"]))
        return {**props, "python_path": python_of(props["root"], props["sha256"]),
                "source_path": source_of(props["root"], props["sha256"])}

    def create(self, props):
        return CreateResult(id_=props["root"], outs=self._install(props))

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._install(news))

    def read(self, id_, props):
        with transport(props.get("connection")) as t:
            present = t.run(check_command(id_, props.get("sha256", ""))).strip() == "present"
        if not present:
            return ReadResult(None, {})
        return ReadResult(id_, props, props)

    def delete(self, id_, props):
        with transport(props.get("connection")) as t:
            t.run(f"rm -rf {shlex.quote(posixpath.join(id_, 'releases'))}")


class ServicesRuntime(pulumi.dynamic.Resource, module="mammatus", name="ServicesRuntime"):
    python_path: pulumi.Output[str]
    source_path: pulumi.Output[str]

    def __init__(self, name: str, connection: pulumi.Input[Optional[dict]], bundle: pulumi.Input[str],
                 sha256: str, root: str, opts: Optional[pulumi.ResourceOptions] = None):
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["connection"]))
        super().__init__(ServicesRuntimeProvider(), name,
                         {"connection": connection, "bundle": bundle, "sha256": sha256,
                          "root": root, "python": "/usr/bin/python3", "python_path": None,
                          "source_path": None}, opts)
