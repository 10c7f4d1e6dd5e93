"""Message-level rules of SQS: body characters, attribute validation and AWS's MD5 digests."""

from __future__ import annotations

import base64
import hashlib
import re
import struct

from services.awsapi.errors import AwsError, invalid_parameter

MAX_ATTRIBUTES = 10
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_\-.]{1,256}$")
# Characters SQS accepts in bodies and string attribute values.
_INVALID_CHARS = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_body(body: str) -> None:
    if not isinstance(body, str) or body == "":
        raise AwsError("MissingParameter", "The request must contain the parameter MessageBody.")
    if _INVALID_CHARS.search(body):
        raise AwsError("InvalidMessageContents", "Invalid characters found. Deleted message.",
                       query_code="InvalidMessageContents")


def _binary(value) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raise invalid_parameter("Binary message attribute value is not valid base64.") from None


def normalize_attributes(attrs, system: bool = False) -> dict[str, dict]:
    """Validate message attributes; return {name: {DataType, StringValue|BinaryValue(b64)}}."""
    if attrs in (None, ""):
        return {}
    if not isinstance(attrs, dict):
        raise invalid_parameter("MessageAttributes must be a map.")
    if len(attrs) > MAX_ATTRIBUTES:
        raise invalid_parameter(f"Number of message attributes [{len(attrs)}] exceeds the allowed maximum [10].")
    out: dict[str, dict] = {}
    for name, value in attrs.items():
        if system and name != "AWSTraceHeader":
            raise invalid_parameter(f"Message system attribute name '{name}' is invalid.")
        if not _ATTR_NAME.match(name) or name.startswith((".", "AWS.", "Amazon.")) or ".." in name \
                or name.endswith("."):
            raise invalid_parameter(f"Message attribute name '{name}' is invalid.")
        if not isinstance(value, dict) or not value.get("DataType"):
            raise invalid_parameter(f"The message attribute '{name}' must contain non-empty message attribute type.")
        dtype = value["DataType"]
        base = dtype.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_parameter(f"The type of message attribute '{name}' is invalid. "
                                    "You must use only the following supported type prefixes: Binary, Number, String.")
        if base == "Binary":
            raw = value.get("BinaryValue")
            if raw in (None, ""):
                raise invalid_parameter(f"The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{dtype}'.")
            out[name] = {"DataType": dtype,
                         "BinaryValue": base64.b64encode(_binary(raw)).decode()}
        else:
            sval = value.get("StringValue")
            if sval in (None, ""):
                raise invalid_parameter(f"The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{dtype}'.")
            if _INVALID_CHARS.search(sval):
                raise invalid_parameter(f"The message attribute '{name}' contains invalid characters.")
            if base == "Number":
                try:
                    float(sval)
                except ValueError:
                    raise invalid_parameter(f"Can't cast the value of message (user) attribute '{name}' to a number.") from None
            out[name] = {"DataType": dtype, "StringValue": sval}
    return out


def attributes_size(attrs: dict[str, dict]) -> int:
    size = 0
    for name, v in attrs.items():
        size += len(name.encode()) + len(v["DataType"].encode())
        size += len(v["StringValue"].encode()) if "StringValue" in v else len(base64.b64decode(v["BinaryValue"]))
    return size


def md5_of_attributes(attrs: dict[str, dict]) -> str | None:
    """AWS's digest: per attribute sorted by name, length-prefixed name, type, transport byte, value."""
    if not attrs:
        return None
    buf = bytearray()

    def put(b: bytes) -> None:
        buf.extend(struct.pack(">I", len(b)))
        buf.extend(b)

    for name in sorted(attrs):
        v = attrs[name]
        put(name.encode())
        put(v["DataType"].encode())
        if "BinaryValue" in v:
            buf.append(2)
            put(base64.b64decode(v["BinaryValue"]))
        else:
            buf.append(1)
            put(v["StringValue"].encode())
    return md5_hex(bytes(buf))


def select_attributes(attrs: dict[str, dict], names: list[str]) -> dict[str, dict]:
    """Apply ReceiveMessage's MessageAttributeNames: exact names, "All", ".*" or "prefix.*"."""
    if not names or not attrs:
        return {}
    if "All" in names or ".*" in names:
        return dict(attrs)
    out = {}
    for n, v in attrs.items():
        for want in names:
            if want == n or (want.endswith(".*") and n.startswith(want[:-1])):
                out[n] = v
                break
    return out
