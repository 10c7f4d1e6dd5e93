"""SNS subscription filter policies: validation and matching.

Supports exact strings and numbers, prefix, suffix, equals-ignore-case, anything-but (values,
prefix, suffix), numeric ranges, exists, "$or", nested keys for FilterPolicyScope MessageBody,
and String.Array attributes (a match on any element).
"""

from __future__ import annotations

import json
from typing import Any

from services.awsapi.errors import AwsError

_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}


def _invalid(reason: str) -> AwsError:
    return AwsError("InvalidParameter", f"Invalid parameter: FilterPolicy: {reason}")


def parse(text: str, scope: str = "MessageAttributes") -> dict:
    try:
        policy = json.loads(text)
    except ValueError:
        raise _invalid("failed to parse JSON") from None
    if not isinstance(policy, dict):
        raise _invalid("Filter policy must be a JSON object")
    _validate(policy, nested=scope == "MessageBody", depth=0)
    return policy


def _validate(node: dict, nested: bool, depth: int) -> None:
    if depth > 5:
        raise _invalid("Filter policy too deep")
    for key, value in node.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise _invalid("$or must be a list of at least two policies")
            for sub in value:
                if not isinstance(sub, dict):
                    raise _invalid("$or entries must be objects")
                _validate(sub, nested, depth + 1)
            continue
        if isinstance(value, dict):
            if not nested and depth == 0:
                raise _invalid(f'"{key}" must be an object or an array')  # only body scope nests
            _validate(value, nested, depth + 1)
            continue
        if not isinstance(value, list) or not value:
            raise _invalid(f'"{key}" must be an object or an array')
        for cond in value:
            _validate_condition(cond)


def _validate_condition(cond: Any) -> None:
    if cond is None or isinstance(cond, (str, bool)) or _is_number(cond):
        return
    if not isinstance(cond, dict) or len(cond) != 1:
        raise _invalid("Unrecognized match type")
    (op, arg), = cond.items()
    if op in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(arg, str):
            raise _invalid(f"{op} match pattern must be a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise _invalid("exists match pattern must be either true or false.")
    elif op == "anything-but":
        if isinstance(arg, dict):
            if set(arg) - {"prefix", "suffix"}:
                raise _invalid("Unsupported anything-but pattern")
        elif isinstance(arg, list):
            if not all(isinstance(a, str) or _is_number(a) for a in arg):
                raise _invalid("anything-but list must contain strings or numbers")
        elif not (isinstance(arg, str) or _is_number(arg)):
            raise _invalid("Unsupported anything-but pattern")
    elif op == "numeric":
        if not isinstance(arg, list) or len(arg) not in (2, 4):
            raise _invalid("Value of numeric must be an array.")
        for i in range(0, len(arg), 2):
            if arg[i] not in _NUMERIC_OPS or not _is_number(arg[i + 1]):
                raise _invalid("Unrecognized numeric range operator or value")
    else:
        raise _invalid(f"Unrecognized match type {op}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _to_number(v: Any) -> float | None:
    if _is_number(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _match_value(cond: Any, value: Any) -> bool:
    """One condition against one present value."""
    if isinstance(cond, dict):
        (op, arg), = cond.items()
        if op == "exists":
            return arg is True
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "suffix":
            return isinstance(value, str) and value.endswith(arg)
        if op == "equals-ignore-case":
            return isinstance(value, str) and value.lower() == arg.lower()
        if op == "anything-but":
            if isinstance(arg, dict):
                if "prefix" in arg:
                    return isinstance(value, str) and not value.startswith(arg["prefix"])
                return isinstance(value, str) and not value.endswith(arg["suffix"])
            values = arg if isinstance(arg, list) else [arg]
            return not any(_equal(v, value) for v in values)
        if op == "numeric":
            n = _to_number(value)
            if n is None:
                return False
            for i in range(0, len(arg), 2):
                o, ref = arg[i], float(arg[i + 1])
                if not {"=": n == ref, "<": n < ref, "<=": n <= ref, ">": n > ref, ">=": n >= ref}[o]:
                    return False
            return True
        return False
    return _equal(cond, value)


def _equal(cond: Any, value: Any) -> bool:
    if _is_number(cond):
        n = _to_number(value)
        return n is not None and n == float(cond)
    if cond is None:
        return value is None
    if isinstance(cond, bool):
        return value is cond
    return isinstance(value, str) and value == cond


def _match_key(conds: list, present: bool, values: list) -> bool:
    for cond in conds:
        if isinstance(cond, dict) and "exists" in cond:
            if cond["exists"] == present:
                return True
            continue
        if present and any(_match_value(cond, v) for v in values):
            return True
    return False


def _match_tree(policy: dict, data: Any, lookup) -> bool:
    for key, conds in policy.items():
        if key == "$or":
            if not any(_match_tree(sub, data, lookup) for sub in conds):
                return False
            continue
        present, values, child = lookup(data, key)
        if isinstance(conds, dict):
            if not _match_tree(conds, child if present else {}, lookup):
                return False
        elif not _match_key(conds, present, values):
            return False
    return True


def _attr_lookup(attrs: dict, key: str):
    a = attrs.get(key) if isinstance(attrs, dict) else None
    if a is None:
        return False, [], None
    dtype = a.get("DataType", "String")
    if dtype.startswith("Binary"):
        return True, [], None  # binary attributes are never matched (as in SNS)
    raw = a.get("StringValue", "")
    if dtype.startswith("String.Array"):
        try:
            arr = json.loads(raw)
            return True, arr if isinstance(arr, list) else [arr], None
        except ValueError:
            return True, [raw], None
    if dtype.startswith("Number"):
        return True, [_to_number(raw)], None
    return True, [raw], None


def _body_lookup(body: Any, key: str):
    if not isinstance(body, dict) or key not in body:
        return False, [], None
    v = body[key]
    if isinstance(v, dict):
        return True, [], v
    return True, v if isinstance(v, list) else [v], None


def matches(policy: dict | None, scope: str, attributes: dict, message: str) -> bool:
    if not policy:
        return True
    if scope == "MessageBody":
        try:
            body = json.loads(message)
        except ValueError:
            return False
        return _match_tree(policy, body, _body_lookup)
    return _match_tree(policy, attributes or {}, _attr_lookup)
