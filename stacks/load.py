"""Loads and validates a stack's `mammatus:*` config before any resource is registered."""

from __future__ import annotations

import json
from typing import Any, Mapping

from pydantic import ValidationError

from stacks.spec import StackSpec

NAMESPACE = "mammatus"


class SpecError(Exception):
    """A stack config that cannot describe a cloud; the message names the key and the problem."""


def _decode(raw: str) -> Any:
    # Pulumi passes structured values (lists, objects) as JSON text and scalars as plain text.
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def config_section(config: Mapping[str, str], namespace: str = NAMESPACE) -> dict[str, Any]:
    prefix = f"{namespace}:"
    return {key[len(prefix):]: _decode(value) for key, value in config.items()
            if key.startswith(prefix)}


def _key_of(error: dict) -> str:
    path = ".".join(str(part) for part in error["loc"])
    return f"{NAMESPACE}:{path}" if path else NAMESPACE


def parse_spec(section: Mapping[str, Any]) -> StackSpec:
    try:
        return StackSpec.model_validate(dict(section))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "missing":
                message = "is required"
            problems.append(f"{_key_of(error)}: {message}")
        raise SpecError("invalid stack config: " + "; ".join(problems)) from None


def load_stack_spec() -> StackSpec:
    """The running stack's spec, from the config the engine handed to the program."""
    from pulumi.runtime.config import CONFIG

    return parse_spec(config_section(CONFIG.get()))
