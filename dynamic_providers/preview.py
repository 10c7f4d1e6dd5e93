"""Values a provider sees before they exist: at preview (and for a new stack) inputs that come
from other resources are still unknown, and checks must not fail on them."""

from __future__ import annotations

from pulumi.output import Unknown

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN


def contains_unknown(value) -> bool:
    """Whether a value (or anything inside it) is still unknown."""
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    # A secret whose value is not known yet arrives as pulumi.output.Unknown, not the string.
    return isinstance(value, Unknown) or value == UNKNOWN


def known_failures(news: dict, failures: list) -> list:
    """Failures about values that are known: unknown ones are checked again when they are."""
    return [f for f in failures if not contains_unknown(news.get(f.property))]
