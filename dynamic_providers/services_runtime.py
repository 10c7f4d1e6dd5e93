"""Mammatus' services installed on a host from their two tars (tools/dist/bundle.py), already
delivered there as Artifacts: the environment (the lock's packages for the platform, unpacked
into a venv of the host's python3, with no pip run on the host) and the bundle (the services'
source), each in a folder named by its digest:

    <root>/environments/<env16>/venv/bin/python     what daemons run (`-m services.<name>`)
    <root>/releases/<src16>/src                      their PYTHONPATH
    .../.complete                                    written last: a half-made one is redone

A new bundle with the same lock unpacks only the source. The environment names the Python it
was made for; a host whose python3 differs is refused with both versions. `read` checks the
markers, so a removed venv is found by refresh and made again by `up`. The ones before the
current are kept (a daemon not yet restarted may still import from them); older ones go.
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


def environment_dir(root: str, sha256: str) -> str:
    return posixpath.join(root, "environments", sha256[:16])


def release_dir(root: str, sha256: str) -> str:
    return posixpath.join(root, "releases", sha256[:16])


def python_of(root: str, environment_sha256: str) -> str:
    return posixpath.join(environment_dir(root, environment_sha256), "venv", "bin", "python")


def source_of(root: str, sha256: str) -> str:
    return posixpath.join(release_dir(root, sha256), "src")


def install_command(bundle: str, root: str, sha256: str, environment: str,
                    environment_sha256: str, python: str = "/usr/bin/python3") -> str:
    env, rel, q = environment_dir(root, environment_sha256), release_dir(root, sha256), shlex.quote
    venv = f"{env}/venv"
    return "\n".join([
        "set -e",
        f"if [ ! -f {q(env)}/.complete ] || [ ! -x {q(venv)}/bin/python ]; then",
        f"  rm -rf {q(env)} && mkdir -p {q(env)}",
        f"  tar -xzf {q(environment)} -C {q(env)}",
        f"  {q(python)} -m venv --without-pip {q(venv)}",
        f"  have=$({q(venv)}/bin/python -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])')",
        f"  want=$(cat {q(env)}/python-version)",
        '  if [ "$have" != "$want" ]; then',
        f"    echo \"the services' environment is for Python $want; {python} on this host is "
        "Python $have\" >&2; exit 1",
        "  fi",
        f"  site=$({q(venv)}/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')",
        f'  rm -rf "$site" && mv {q(env)}/site-packages "$site"',
        # What pip would have done: bytecode, made by the host's own interpreter.
        f'  {q(venv)}/bin/python -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true',
        f"  touch {q(env)}/.complete",
        "fi",
        f"if [ ! -f {q(rel)}/.complete ]; then",
        f"  rm -rf {q(rel)} && mkdir -p {q(rel)} && tar -xf {q(bundle)} -C {q(rel)}",
        f"  touch {q(rel)}/.complete",
        "fi",
        f"touch {q(env)} {q(rel)}",   # newest first below
        # Keep these and the ones before; older ones go.
        f"ls -1td {q(root)}/environments/*/ | tail -n +3 | xargs -r rm -rf",
        f"ls -1td {q(root)}/releases/*/ | tail -n +3 | xargs -r rm -rf",
    ])


def check_command(root: str, sha256: str, environment_sha256: str) -> str:
    env = shlex.quote(environment_dir(root, environment_sha256))
    rel = shlex.quote(release_dir(root, sha256))
    return (f"if [ -f {env}/.complete ] && [ -x {env}/venv/bin/python ] && [ -f {rel}/.complete ]; "
            "then echo present; fi")


def normalize(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    props = {"connection": news.get("connection") or None, "bundle": news.get("bundle", ""),
             "sha256": str(news.get("sha256") or "").lower(), "root": news.get("root", ""),
             "environment": news.get("environment", ""),
             "environment_sha256": str(news.get("environment_sha256") or "").lower(),
             "python": news.get("python") or "/usr/bin/python3"}
    failures = []
    for key in ("bundle", "environment", "root"):
        if not isinstance(props[key], str) or not posixpath.isabs(props[key]):
            failures.append(CheckFailure(key, f"must be an absolute path, got {props[key]!r}"))
    for key, what in (("sha256", "bundle"), ("environment_sha256", "environment")):
        if len(props[key]) != 64:
            failures.append(CheckFailure(key, f"must be the {what}'s sha256 (64 hex digits)"))
    return props, failures


def view(props: dict[str, Any]) -> dict[str, Any]:
    return {"host": (props.get("connection") or {}).get("host", ""), "root": props.get("root"),
            "sha256": props.get("sha256"), "environment_sha256": props.get("environment_sha256"),
            "python": props.get("python")}


class ServicesRuntimeProvider(MammatusProvider):
    immutable = IMMUTABLE

    def view(self, props):
        return view(props)

    def check(self, _olds, news):
        props, failures = normalize(news)
        return CheckResult(props, failures)

    def _install(self, props) -> dict:
        with transport(props["connection"]) as t:
            t.run(install_command(props["bundle"], props["root"], props["sha256"],
                                  props["environment"], props["environment_sha256"], props["python"]))
        return {**props, "python_path": python_of(props["root"], props["environment_sha256"]),
                "source_path": source_of(props["root"], props["sha256"])}

    def create(self, props):
        return CreateResult(id_=props["root"], outs=self._install(props))

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._install(news))

    def read(self, id_, props):
        with transport(props.get("connection")) as t:
            present = t.run(check_command(id_, props.get("sha256", ""),
                                          props.get("environment_sha256", ""))).strip() == "present"
        if not present:
            return ReadResult(None, {})
        return ReadResult(id_, props, props)

    def delete(self, id_, props):
        with transport(props.get("connection")) as t:
            t.run(f"rm -rf {shlex.quote(posixpath.join(id_, 'releases'))} "
                  f"{shlex.quote(posixpath.join(id_, 'environments'))}")


class ServicesRuntime(pulumi.dynamic.Resource, module="mammatus", name="ServicesRuntime"):
    python_path: pulumi.Output[str]
    source_path: pulumi.Output[str]

    def __init__(self, name: str, connection: pulumi.Input[Optional[dict]], bundle: pulumi.Input[str],
                 sha256: str, environment: pulumi.Input[str], environment_sha256: str, root: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["connection"]))
        super().__init__(ServicesRuntimeProvider(), name,
                         {"connection": connection, "bundle": bundle, "sha256": sha256,
                          "environment": environment, "environment_sha256": environment_sha256,
                          "root": root, "python": "/usr/bin/python3", "python_path": None,
                          "source_path": None}, opts)
