"""The one diff every dynamic provider uses: an update in place for a changed input, a
replacement for a changed immutable one, nothing for outputs the provider computed itself.

`connection` (how the provider reaches its daemon) is special: `target(connection)` names the
daemon the resource lives on. A new target is a new resource there (a replacement when
"connection" is immutable, as it is for most); any other change of the connection (rotated
credentials, a new client certificate) is an update only with `connection_updates`, so that a
provider whose update would redo real work is not run for a new password.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from pulumi.dynamic import DiffResult


def plan_diff(olds: dict[str, Any], news: dict[str, Any], immutable: Iterable[str] = (), *,
              outputs: Iterable[str] = (),
              target: Optional[Callable[[dict], Any]] = None,
              connection_updates: bool = True,
              delete_before_replace: bool = True) -> DiffResult:
    fixed = set(immutable)
    keys = (set(olds) | set(news)) - set(outputs) - {"connection"}
    changed = sorted(k for k in keys if olds.get(k) != news.get(k))
    replaces = [k for k in changed if k in fixed]
    old_conn, new_conn = olds.get("connection") or {}, news.get("connection") or {}
    if target is not None and target(old_conn) != target(new_conn):
        changed.append("connection")
        if "connection" in fixed:
            replaces.append("connection")
    elif connection_updates and old_conn != new_conn:
        changed.append("connection")
    return DiffResult(changes=bool(changed), replaces=replaces,
                      delete_before_replace=delete_before_replace)


def endpoint(connection: dict) -> Any:
    """The daemon of an HTTP API connection."""
    return connection.get("endpoint")


def ssh_host(connection: dict) -> Any:
    """The host of an SSH connection (its address and port)."""
    return connection.get("host"), connection.get("port")
