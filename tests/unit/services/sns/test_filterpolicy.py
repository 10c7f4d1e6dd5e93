import json

import pytest

from services.awsapi.errors import AwsError
from services.sns import filterpolicy as fp


def s(v):
    return {"DataType": "String", "StringValue": v}


def n(v):
    return {"DataType": "Number", "StringValue": str(v)}


def arr(v):
    return {"DataType": "String.Array", "StringValue": json.dumps(v)}


@pytest.mark.parametrize("policy, attrs, expected", [
    ({"c": ["red", "blue"]}, {"c": s("red")}, True),
    ({"c": ["red"]}, {"c": s("green")}, False),
    ({"c": ["red"]}, {}, False),
    ({"c": [{"prefix": "gr"}]}, {"c": s("green")}, True),
    ({"c": [{"suffix": "en"}]}, {"c": s("green")}, True),
    ({"c": [{"equals-ignore-case": "RED"}]}, {"c": s("red")}, True),
    ({"c": [{"anything-but": ["red", "blue"]}]}, {"c": s("green")}, True),
    ({"c": [{"anything-but": "red"}]}, {"c": s("red")}, False),
    ({"c": [{"anything-but": "red"}]}, {}, False),
    ({"c": [{"anything-but": {"prefix": "r"}}]}, {"c": s("red")}, False),
    ({"p": [{"numeric": [">=", 10, "<", 20]}]}, {"p": n(15)}, True),
    ({"p": [{"numeric": [">=", 10, "<", 20]}]}, {"p": n(20)}, False),
    ({"p": [100]}, {"p": n("100.0")}, True),
    ({"c": [{"exists": True}]}, {"c": s("x")}, True),
    ({"c": [{"exists": False}]}, {"c": s("x")}, False),
    ({"c": [{"exists": False}]}, {}, True),
    ({"c": ["red"]}, {"c": arr(["blue", "red"])}, True),
    ({"c": ["red"], "p": [1]}, {"c": s("red"), "p": n(2)}, False),
    ({"$or": [{"c": ["red"]}, {"p": [1]}]}, {"p": n(1)}, True),
])
def test_attribute_scope(policy, attrs, expected):
    assert fp.matches(fp.parse(json.dumps(policy)), "MessageAttributes", attrs, "body") is expected


@pytest.mark.parametrize("policy, body, expected", [
    ({"order": {"status": ["paid"]}}, {"order": {"status": "paid"}}, True),
    ({"order": {"status": ["paid"]}}, {"order": {"status": "open"}}, False),
    ({"tags": ["a"]}, {"tags": ["b", "a"]}, True),
    ({"amount": [{"numeric": [">", 5]}]}, {"amount": 7}, True),
    ({"x": ["y"]}, "not json", False),
])
def test_body_scope(policy, body, expected):
    message = body if isinstance(body, str) else json.dumps(body)
    assert fp.matches(fp.parse(json.dumps(policy), "MessageBody"), "MessageBody", {}, message) is expected


@pytest.mark.parametrize("bad", ['nope', '[]', '{"a": "x"}', '{"a": []}', '{"a": [{"regex": "x"}]}',
                                 '{"a": [{"numeric": ["!", 1]}]}', '{"a": {"b": ["c"]}}',
                                 '{"$or": [{"a": ["b"]}]}'])
def test_invalid_policies(bad):
    with pytest.raises(AwsError) as e:
        fp.parse(bad)
    assert e.value.code == "InvalidParameter"


def test_no_policy_matches_everything():
    assert fp.matches(None, "MessageAttributes", {}, "x")
