"""Parameter types from the service's botocore model, the one every SDK serializes from.

Handlers get JSON-shaped dicts. Without this check a value of the wrong type (an object where a
string belongs, a string where a list belongs; the query protocol makes one out of "QueueUrl.1=x")
reaches them and fails as a 500. check() refuses it as AWS does: SerializationException on the
JSON protocol, InvalidParameterValue on the query protocol. Members the model does not know are
left alone (handlers ignore them); member names match case-insensitively because the query
protocol's names differ in case from the JSON ones here and there (SQS CreateQueue "Tag.N" ->
"Tags", the model's "tags").
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.model import ServiceModel, Shape

from .errors import AwsError

# JSON types each scalar shape accepts (bool is an int in Python: refused for numbers below).
_JSON_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,), "blob": (str,), "timestamp": (str, int, float),
    "integer": (int,), "long": (int,), "float": (int, float), "double": (int, float),
    "boolean": (bool,),
}
_NUMBERS = ("integer", "long", "float", "double")


def _article(kind: str) -> str:
    return {"list": "a list", "map": "a map", "structure": "an object", "integer": "an integer"}.get(
        kind, f"a {kind}")


class ParameterTypes:
    def __init__(self, model: ServiceModel):
        self._model = model
        self._operations = frozenset(model.operation_names)
        self._members: dict[str, dict[str, Shape]] = {}

    @classmethod
    def for_service(cls, name: str) -> "ParameterTypes":
        return cls(botocore.session.get_session().get_service_model(name))

    def check(self, action: str, params: dict, is_json: bool) -> None:
        """Raise AwsError if a modelled parameter of `action` has the wrong type."""
        if action in self._operations:  # unknown actions are the dispatcher's to refuse
            shape = self._model.operation_model(action).input_shape
            if shape is not None:
                self._value(shape, params, "", is_json)

    def _value(self, shape: Shape, value: Any, path: str, is_json: bool) -> None:
        kind = shape.type_name
        if value is None or (value == "" and not is_json and kind in ("list", "map")):
            return  # JSON null: absent; the query protocol sends an empty list as "Name="
        if kind == "structure":
            self._structure(shape, value, path, is_json)
        elif kind == "list":
            self._expect(isinstance(value, list), kind, path, is_json)
            for i, item in enumerate(value, 1):
                self._value(shape.member, item, f"{path}.{i}", is_json)
        elif kind == "map":
            self._expect(isinstance(value, dict), kind, path, is_json)
            for key, item in value.items():
                self._value(shape.value, item, f"{path}.{key}", is_json)
        else:
            self._expect(_scalar_fits(kind, value, is_json), kind, path, is_json)

    def _structure(self, shape: Shape, value: Any, path: str, is_json: bool) -> None:
        self._expect(isinstance(value, dict), "structure", path, is_json)
        members = self._members_by_lower_name(shape)
        for name, item in value.items():
            member = members.get(name.lower())
            if member is not None:
                self._value(member, item, f"{path}.{name}" if path else name, is_json)

    def _members_by_lower_name(self, shape: Shape) -> dict[str, Shape]:
        if shape.name not in self._members:
            self._members[shape.name] = {k.lower(): v for k, v in shape.members.items()}
        return self._members[shape.name]

    @staticmethod
    def _expect(ok: bool, kind: str, path: str, is_json: bool) -> None:
        if ok:
            return
        where = path or "the request"
        if is_json:
            raise AwsError("SerializationException", f"Invalid type for {where}: expected {_article(kind)}.")
        raise AwsError("InvalidParameterValue",
                       f"Value for parameter {where} is invalid. Reason: must be {_article(kind)}.")


def _scalar_fits(kind: str, value: Any, is_json: bool) -> bool:
    if not is_json:  # the query protocol carries every scalar as text
        return isinstance(value, str)
    if kind in _NUMBERS and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_SCALARS.get(kind, (str,)))
