"""One diff for providers that compare a small view of their properties: an update in place
for a changed field, a replacement (the old one removed first) for a changed immutable one."""

from __future__ import annotations

from typing import Any, Iterable

from pulumi.dynamic import DiffResult


def plan_diff(old: dict[str, Any], new: dict[str, Any], immutable: Iterable[str]) -> DiffResult:
    changed = [k for k in new if old.get(k) != new[k]]
    fixed = set(immutable)
    return DiffResult(changes=bool(changed), replaces=[k for k in changed if k in fixed],
                      delete_before_replace=True)
