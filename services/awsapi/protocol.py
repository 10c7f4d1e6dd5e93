"""Request parsing and response rendering for AWS's query/XML and JSON 1.0 protocols.

Handlers work on one shape of data whatever the wire: dicts of JSON-like values, the way the JSON
protocol carries them. The query protocol's flat "A.1.B=x" parameters are folded into that shape
here, and results are rendered back to XML here, so services never see the wire format.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from .errors import AwsError

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
XML_CONTENT_TYPE = "text/xml"


# --- query protocol: parsing -------------------------------------------------------------------

MAX_KEY_DEPTH = 16  # "A.1.B.2.C" has 5 parts; AWS's deepest inputs have about 8


def malformed_query(message: str) -> AwsError:
    # AWS's common-errors page lists MalformedQueryString with 404; it is the caller's syntax
    # error, so 400 like every other parameter error here.
    return AwsError("MalformedQueryString", message)


def parse_form(body: bytes, raw_query: str = "") -> dict[str, str]:
    """Flat parameters from the query string and a form-encoded body (body wins)."""
    params = _form_pairs(raw_query.encode("utf-8", "surrogateescape"), "query string")
    if body:
        params.update(_form_pairs(body, "request body"))
    return params


def _form_pairs(data: bytes, where: str) -> dict[str, str]:
    # Strict: a replacement character would silently change a queue name or a message.
    try:
        return dict(parse_qsl(data.decode("utf-8"), keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        raise malformed_query(f"The {where} is not valid UTF-8.") from None


def _unflatten(params: Mapping[str, str]) -> dict:
    tree: dict = {}
    for key, value in params.items():
        node = tree
        parts = key.split(".")
        if len(parts) > MAX_KEY_DEPTH:  # folding recurses per level
            raise malformed_query(f"Parameter name {key[:80]} is nested too deeply.")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        if parts[-1] not in node:  # a deeper key already made a dict here: keep it
            node[parts[-1]] = value
    return tree


def _indexed(node: dict) -> list:
    items = sorted(((int(k), v) for k, v in node.items() if k.isdigit()), key=lambda kv: kv[0])
    return [v for _, v in items]


_KEY_NAMES = ("Name", "Key", "key", "name")
_VALUE_NAMES = ("Value", "value")


def _fold(node: Any, renames: Mapping[str, tuple]) -> Any:
    """Turn the unflattened tree into lists/maps.

    renames maps a legacy flattened name to (json name, "list"|"map"), e.g. SQS's
    "Attribute.1.Name" -> ("Attributes", "map"). Non-flattened lists ("X.member.N") and maps
    ("X.entry.N.key") are recognised on their own.
    """
    if not isinstance(node, dict):
        return node
    out: dict = {}
    for key, value in node.items():
        name, kind = key, None
        if key in renames:
            name, kind = renames[key]
        if isinstance(value, dict):
            if kind is None and set(value) == {"member"} and isinstance(value["member"], dict):
                value, kind = value["member"], "list"
            elif kind is None and set(value) == {"entry"} and isinstance(value["entry"], dict):
                value, kind = value["entry"], "map"
            elif kind is not None and set(value) == {"member"}:
                value = value["member"]
            elif kind is not None and set(value) == {"entry"}:
                value = value["entry"]
        if kind == "list":
            out[name] = [_fold(v, renames) for v in _indexed(value)] if isinstance(value, dict) else []
        elif kind == "map":
            result = {}
            for entry in (_indexed(value) if isinstance(value, dict) else []):
                if not isinstance(entry, dict):
                    continue
                k = next((entry[n] for n in _KEY_NAMES if n in entry), None)
                v = next((entry[n] for n in _VALUE_NAMES if n in entry), None)
                if k is not None:
                    result[k] = _fold(v, renames)
            out[name] = result
        else:
            out[name] = _fold(value, renames)
    return out


def parse_query(params: Mapping[str, str], renames: Mapping[str, tuple] = {}) -> tuple[str, dict]:
    """Return (action, JSON-shaped parameters) from flat query parameters."""
    action = params.get("Action")
    if not action:
        raise AwsError("MissingAction", "Missing Action")
    rest = {k: v for k, v in params.items()
            if k not in ("Action", "Version") and not k.startswith("X-Amz-")}
    return action, _fold(_unflatten(rest), renames)


# --- query protocol: rendering -----------------------------------------------------------------

def _xml(name: str, value: Any, renames: Mapping[str, tuple]) -> str:
    """Render one member. renames maps a JSON name to (element name, "list"|"map", key, value)
    for flattened members; other lists get <member>, other maps <entry><key/><value/>."""
    spec = renames.get(name)
    if isinstance(value, list):
        if spec:
            return "".join(_xml_value(spec[0], v, renames) for v in value)
        return f"<{name}>" + "".join(_xml_value("member", v, renames) for v in value) + f"</{name}>"
    if isinstance(value, dict) and spec and spec[1] == "map":
        elem, _, kname, vname = spec
        return "".join(f"<{elem}><{kname}>{escape(str(k))}</{kname}>{_xml_value(vname, v, renames)}</{elem}>"
                       for k, v in value.items())
    if isinstance(value, dict) and spec is None and name.endswith(("Attributes", "Tags")) \
            and all(not isinstance(v, (dict, list)) for v in value.values()):
        return f"<{name}>" + "".join(
            f"<entry><key>{escape(str(k))}</key><value>{escape(_scalar(v))}</value></entry>"
            for k, v in value.items()) + f"</{name}>"
    return _xml_value(name, value, renames)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_value(name: str, value: Any, renames: Mapping[str, tuple]) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return f"<{name}>" + "".join(_xml(k, v, renames) for k, v in value.items()) + f"</{name}>"
    if isinstance(value, list):
        return _xml(name, value, renames)
    return f"<{name}>{escape(_scalar(value))}</{name}>"


def render_xml(action: str, result: Mapping | None, xmlns: str, request_id: str,
               renames: Mapping[str, tuple] = {}) -> str:
    # An empty <XResult/> too: SDKs look for the wrapper when the output shape has one.
    inner = f"<{action}Result>" + "".join(_xml(k, v, renames) for k, v in (result or {}).items()) \
        + f"</{action}Result>"
    return (f'<?xml version="1.0"?><{action}Response xmlns="{xmlns}">{inner}'
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>")


def render_xml_error(err: AwsError, request_id: str, xmlns: str) -> str:
    return (f'<?xml version="1.0"?><ErrorResponse xmlns="{xmlns}"><Error><Type>{err.fault}</Type>'
            f"<Code>{escape(err.query_code)}</Code><Message>{escape(err.message)}</Message>"
            f"<Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>")


# --- JSON 1.0 protocol -------------------------------------------------------------------------

def parse_json(target: str, prefix: str, body: bytes) -> tuple[str, dict]:
    service, _, action = target.partition(".")
    if service != prefix or not action:
        raise AwsError("UnknownOperationException", f"Unknown operation {target}")
    params = _json_object(body)
    return action, params


def serialization_error(message: str) -> AwsError:
    return AwsError("SerializationException", message)


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def _json_object(body: bytes) -> dict:
    try:
        text = body.decode("utf-8") if body else "{}"
        params = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise serialization_error("Unable to parse request body as JSON") from None
    if not isinstance(params, dict):
        raise serialization_error("Request body must be a JSON object")
    if _SURROGATE_ESCAPE.search(text) and not _is_unicode(params):
        raise serialization_error("Request body contains an unpaired surrogate escape")
    return params


# "\ud83d\ude00" (how Python and JavaScript escape an emoji) is fine; a lone half is not text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _is_unicode(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def render_json_error(err: AwsError, namespace: str) -> tuple[dict, dict]:
    """(body, extra headers); x-amzn-query-error keeps the legacy query code for SDKs."""
    body = {"__type": f"{namespace}#{err.code}", "message": err.message}
    return body, {"x-amzn-query-error": f"{err.query_code};{err.fault}"}


def new_request_id() -> str:
    """A random (version 4) UUID, as str(uuid.uuid4()) gives, in a third of its time."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
