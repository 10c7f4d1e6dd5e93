import base64

import pytest

from services.awsapi.errors import AwsError
from services.sqs import attributes as qattrs
from services.sqs.messages import (check_body, md5_of_attributes, normalize_attributes,
                                   select_attributes)


def reference_digest(attrs):
    # Written independently from AWS's description of the algorithm (as the Java SDK checks it).
    import hashlib
    import struct
    h = hashlib.md5(usedforsecurity=False)
    for name in sorted(attrs):
        v = attrs[name]
        h.update(struct.pack("!I", len(name.encode())) + name.encode())
        h.update(struct.pack("!I", len(v["DataType"].encode())) + v["DataType"].encode())
        if "BinaryValue" in v:
            b = base64.b64decode(v["BinaryValue"])
            h.update(b"\x02" + struct.pack("!I", len(b)) + b)
        else:
            s = v["StringValue"].encode()
            h.update(b"\x01" + struct.pack("!I", len(s)) + s)
    return h.hexdigest()


def test_md5_matches_reference():
    attrs = normalize_attributes({"b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
                                  "a": {"DataType": "String.x", "StringValue": "ü"},
                                  "n": {"DataType": "Number", "StringValue": "1.5"}})
    assert md5_of_attributes(attrs) == reference_digest(attrs)
    assert md5_of_attributes({}) is None


def test_md5_known_value():
    # Value from AWS's documentation example set, checked by boto3 in integration tests too.
    assert md5_of_attributes({"a": {"DataType": "String", "StringValue": "x"}}) == \
        "a512aac9938034acb0b3c3d965944bf1"


@pytest.mark.parametrize("attrs", [
    {"": {"DataType": "String", "StringValue": "x"}},
    {"AWS.x": {"DataType": "String", "StringValue": "x"}},
    {"a": {"DataType": "String"}},
    {"a": {"StringValue": "x"}},
    {"a": {"DataType": "Number", "StringValue": "x1"}},
    {f"k{i}": {"DataType": "String", "StringValue": "x"} for i in range(11)},
])
def test_invalid_attributes(attrs):
    with pytest.raises(AwsError) as e:
        normalize_attributes(attrs)
    assert e.value.code == "InvalidParameterValue"


def test_body_characters():
    check_body("ok \t\n☃ \U0001F600")
    with pytest.raises(AwsError) as e:
        check_body("bad\x00")
    assert e.value.code == "InvalidMessageContents"


def test_select_attributes():
    attrs = {"a.b": {}, "a.c": {}, "d": {}}
    assert set(select_attributes(attrs, ["a.*"])) == {"a.b", "a.c"}
    assert set(select_attributes(attrs, ["All"])) == {"a.b", "a.c", "d"}
    assert select_attributes(attrs, []) == {}


def test_queue_attribute_validation():
    assert qattrs.validate({"VisibilityTimeout": 5}, fifo=False, creating=True) == {"VisibilityTimeout": "5"}
    for bad, code in (({"Nope": "1"}, "InvalidAttributeName"),
                      ({"DelaySeconds": "901"}, "InvalidAttributeValue"),
                      ({"DelaySeconds": "x"}, "InvalidAttributeValue"),
                      ({"DeduplicationScope": "queue"}, "InvalidAttributeName"),
                      ({"RedrivePolicy": '{"maxReceiveCount": 0, "deadLetterTargetArn": "arn:aws:sqs:r:1:q"}'},
                       "InvalidAttributeValue")):
        with pytest.raises(AwsError) as e:
            qattrs.validate(bad, fifo=False, creating=True)
        assert e.value.code == code
