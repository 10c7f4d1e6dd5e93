"""An artifact delivered onto a host: a file built on the machine running Pulumi (a daemon binary
for the host's architecture, tools/bootstrap's `.tools/dist/`), copied over SSH and checked by
sha256 *on the host* before it replaces the one there.

`read` hashes the file on the host: `refresh` sees a deleted or altered binary (a deleted one
leaves the state, a changed one shows a new sha256), and the next `up` delivers it again. Only
the host, the path, the digest and the mode are compared, so moving the checkout that holds the
source changes nothing; a new pin (another digest) is an update in place. Nothing connects at
check or diff time, so previews work with no host reachable.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.transport import CommandFailed, transport
from dynamic_providers.base import MammatusProvider

IMMUTABLE = ("host", "path")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DigestMismatch(RuntimeError):
    pass


def normalize(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    props = {"connection": news.get("connection") or None, "artifact": news.get("artifact", ""),
             "source": news.get("source", ""), "sha256": str(news.get("sha256") or "").lower(),
             "path": news.get("path", ""), "mode": str(news.get("mode") or "0755")}
    failures = []
    if not isinstance(props["path"], str) or not posixpath.isabs(props["path"]):
        failures.append(CheckFailure("path", f"must be an absolute path, got {props['path']!r}"))
    if not SHA256.match(props["sha256"]):
        failures.append(CheckFailure("sha256", f"must be 64 hex digits, got {props['sha256']!r}"))
    if not isinstance(props["source"], str) or not props["source"]:
        failures.append(CheckFailure("source", "must name the local file to deliver"))
    try:
        if not 0 <= int(props["mode"], 8) <= 0o7777:
            raise ValueError
    except ValueError:
        failures.append(CheckFailure("mode", f"must be an octal mode like 0755, got {props['mode']!r}"))
    return props, failures


def view(props: dict[str, Any]) -> dict[str, Any]:
    return {"host": (props.get("connection") or {}).get("host", ""), "path": props.get("path"),
            "sha256": props.get("sha256"), "mode": props.get("mode")}


def hash_command(path: str) -> str:
    """Prints the file's sha256, or nothing when there is no such file."""
    q = shlex.quote(path)
    return f"if [ -f {q} ]; then sha256sum {q}; fi"


def parse_hash(stdout: str) -> Optional[str]:
    """The digest out of `sha256sum` output ('<hex>  <path>'), None when empty."""
    first = (stdout or "").split()
    return first[0].lower() if first and SHA256.match(first[0].lower()) else None


def mode_command(path: str) -> str:
    return f"stat -c %a {shlex.quote(path)}"


class ArtifactProvider(MammatusProvider):
    immutable = IMMUTABLE

    def view(self, props):
        return view(props)

    def check(self, _olds, news):
        props, failures = normalize(news)
        return CheckResult(props, failures)

    def _deliver(self, props) -> None:
        path, staged = props["path"], props["path"] + ".mammatus-new"
        with transport(props["connection"]) as t:
            t.upload(props["source"], staged, int(props["mode"], 8))
            found = parse_hash(t.run(hash_command(staged)))
            if found != props["sha256"]:
                t.remove(staged)
                raise DigestMismatch(
                    f"{props['artifact'] or path}: the copy on the host has sha256 {found}, "
                    f"the pinned build has {props['sha256']} (rebuild it: tools/bootstrap)")
            # rename(2): a daemon running the old binary keeps it; the next start gets the new.
            t.run(f"mv -f {shlex.quote(staged)} {shlex.quote(path)}")

    def create(self, props):
        self._deliver(props)
        return CreateResult(id_=props["path"], outs=props)

    def update(self, _id, _olds, news):
        self._deliver(news)
        return UpdateResult(outs=news)

    def read(self, id_, props):
        with transport(props.get("connection")) as t:
            try:
                found = parse_hash(t.run(hash_command(id_)))
                mode = t.run(mode_command(id_)).strip() if found else ""
            except CommandFailed:
                found, mode = None, ""
        if found is None:
            return ReadResult(None, {})      # gone: the next `up` delivers it again
        seen = {**props, "path": id_, "sha256": found, "mode": mode.zfill(4)}
        return ReadResult(id_, seen, seen)

    def delete(self, id_, props):
        with transport(props.get("connection")) as t:
            t.remove(id_)


class Artifact(pulumi.dynamic.Resource, module="mammatus", name="Artifact"):
    """`artifact` names it in messages ("step-ca linux-arm64"); `source` is the local file."""
    path: pulumi.Output[str]
    sha256: pulumi.Output[str]

    def __init__(self, name: str, connection: pulumi.Input[Optional[dict]], artifact: str,
                 source: str, sha256: str, path: str, mode: str = "0755",
                 opts: Optional[pulumi.ResourceOptions] = None):
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["connection"]))
        super().__init__(ArtifactProvider(), name,
                         {"connection": connection, "artifact": artifact, "source": source,
                          "sha256": sha256, "path": path, "mode": mode}, opts)
