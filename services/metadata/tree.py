"""EC2-style metadata trees: nested dicts are directories, everything else a leaf.

A directory lists its children one a line, subdirectories with a trailing slash. `Dir` can relabel
a listing entry (EC2's `public-keys/` lists `0=my-key` but is walked as `0/openssh-key`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional


class Dir(dict):
    def __init__(self, *args, labels: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = labels or {}


class Lazy:
    """A leaf computed only when it is the one asked for (a signature, not for every listing)."""

    def __init__(self, make: Callable[[], Any]):
        self.make = make


def lookup(tree: Any, path: str) -> Any:
    """The node at a slash-separated path, or KeyError. Empty segments are ignored."""
    node = tree
    for segment in (s for s in path.split("/") if s):
        if not isinstance(node, dict) or segment not in node:
            raise KeyError(path)
        node = node[segment]
    return node


def listing(node: dict) -> str:
    labels = getattr(node, "labels", {})
    lines = []
    for key, child in node.items():
        if key in labels:
            lines.append(labels[key])
        else:
            lines.append(f"{key}/" if isinstance(child, dict) else key)
    return "\n".join(lines)


def leaf(value: Any) -> str:
    if isinstance(value, Lazy):
        value = value.make()
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(node: Any) -> str:
    return listing(node) if isinstance(node, dict) else leaf(node)
