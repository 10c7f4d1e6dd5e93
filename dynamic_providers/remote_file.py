"""A file with exact content, mode and (optionally) owner on a host, over SSH
(dynamic_providers/transport.py). The file has its mode and owner before its first byte.

Unlike a remote command, it reads the file back: `pulumi refresh` (or `preview --refresh`) sees a
hand edit, and the next `up` writes the file again. Nothing connects at check or diff time, so
previews work with no host reachable.
"""

from __future__ import annotations

import posixpath
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.transport import transport
from dynamic_providers.base import MammatusProvider

IMMUTABLE = ("path", "host")  # a new place is a new file


def normalize(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    props = {"connection": news.get("connection") or None, "path": news.get("path", ""),
             "content": news.get("content") or "", "mode": str(news.get("mode") or "0644"),
             "owner": news.get("owner") or ""}
    failures = []
    if not isinstance(props["path"], str) or not posixpath.isabs(props["path"]):
        failures.append(CheckFailure("path", f"must be an absolute path, got {props['path']!r}"))
    try:
        if not 0 <= int(props["mode"], 8) <= 0o7777:
            raise ValueError
    except ValueError:
        failures.append(CheckFailure("mode", f"must be an octal mode like 0644, got {props['mode']!r}"))
    return props, failures


def view(props: dict[str, Any]) -> dict[str, Any]:
    """What a diff compares: where the file is, what it holds, who may read it."""
    return {"host": (props.get("connection") or {}).get("host", ""), "path": props.get("path"),
            "content": props.get("content"), "mode": props.get("mode"),
            "owner": props.get("owner") or ""}


class RemoteFileProvider(MammatusProvider):
    immutable = IMMUTABLE

    def view(self, props):
        return view(props)

    def check(self, _olds, news):
        props, failures = normalize(news)
        return CheckResult(props, failures)

    def _write(self, props):
        with transport(props["connection"]) as t:
            t.write(props["path"], props["content"], int(props["mode"], 8), props.get("owner") or "")

    def create(self, props):
        self._write(props)
        return CreateResult(id_=props["path"], outs=props)

    def update(self, _id, _olds, news):
        self._write(news)
        return UpdateResult(outs=news)

    def read(self, id_, props):
        with transport(props.get("connection")) as t:
            content, mode = t.read(id_), t.mode(id_)
            owner = t.owner(id_) if props.get("owner") else ""
        if content is None:
            return ReadResult(None, {})
        # As found on the host, as inputs too: a hand edit shows up as a diff against the program.
        found = {**props, "path": id_, "content": content, "mode": f"{mode:04o}",
                 "owner": owner or ""}
        return ReadResult(id_, found, found)

    def delete(self, id_, props):
        with transport(props.get("connection")) as t:
            t.remove(id_)


class RemoteFile(pulumi.dynamic.Resource, module="host", name="RemoteFile"):
    path: pulumi.Output[str]
    content: pulumi.Output[str]
    mode: pulumi.Output[str]

    def __init__(self, name: str, connection: pulumi.Input[Optional[dict]], path: str,
                 content: pulumi.Input[str], mode: str = "0644", secret: bool = False,
                 owner: str = "", opts: Optional[pulumi.ResourceOptions] = None):
        secrets = ["connection", "content"] if secret else ["connection"]
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=secrets))
        super().__init__(RemoteFileProvider(), name,
                         {"connection": connection, "path": path, "content": content, "mode": mode,
                          "owner": owner},
                         opts)
