"""Loads and validates a stack's `mammatus:*` config before any resource is registered."""

from __future__ import annotations

import json
from typing import Any, Mapping

from pydantic import ValidationError

from stacks.checks import problems
from stacks.spec import StackSpec

NAMESPACE = "mammatus"
# Secret config keys (`bin/pulumi config set --secret`): the layers read them as Pulumi secrets
# (pulumi.Config), never as part of the spec, so they are not validated here.
SECRET_KEYS = ("vaultToken",)  # the operator token the Secrets layer applies Vault's spec with


class SpecError(Exception):
    """A stack config that cannot describe a cloud; the message names each key and its problem."""


def _decode(raw: str) -> Any:
    # Pulumi passes structured values (lists, objects) as JSON text and scalars as plain text.
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def config_section(config: Mapping[str, str], namespace: str = NAMESPACE) -> dict[str, Any]:
    prefix = f"{namespace}:"
    return {key[len(prefix):]: _decode(value) for key, value in config.items()
            if key.startswith(prefix) and key[len(prefix):] not in SECRET_KEYS}


def key_path(loc) -> str:
    """('hosts', 1, 'address') -> 'mammatus:hosts[1].address'"""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{NAMESPACE}:{path}" if path else NAMESPACE


def _message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "is required"
    return error["msg"].removeprefix("Value error, ")


def parse_spec(section: Mapping[str, Any]) -> StackSpec:
    try:
        spec = StackSpec.model_validate(dict(section))
    except ValidationError as exc:
        found = [(key_path(e["loc"]), _message(e)) for e in exc.errors()]
    else:
        found = [(f"{NAMESPACE}:{key}", message) for key, message in problems(spec)]
    if found:
        raise SpecError("invalid stack config: " + "; ".join(f"{k}: {m}" for k, m in found))
    return spec


def stack_file_section(path) -> dict[str, Any]:
    """The `mammatus:*` keys of a `Pulumi.<stack>.yaml`, as the engine would hand them over
    (plain config only: secrets in the file stay encrypted and are not needed for a spec)."""
    import yaml

    with open(path) as f:
        config = (yaml.safe_load(f) or {}).get("config") or {}
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix):]: value for key, value in config.items()
            if key.startswith(prefix) and key[len(prefix):] not in SECRET_KEYS}


def load_stack_file(path) -> StackSpec:
    """The validated spec of a stack file (diagrams, tests), without the Pulumi engine."""
    return parse_spec(stack_file_section(path))


def load_stack_spec() -> StackSpec:
    """The running stack's spec, from the config the engine handed to the program."""
    from pulumi.runtime.config import CONFIG

    return parse_spec(config_section(CONFIG.get()))
