"""tools/providers/random.py through the ResourceProvider interface."""
import base64
import re
import uuid

import bcrypt
import pytest
from pulumi.runtime.proto import provider_pb2

from tools.providers import random
from tests.unit.tools.helpers import UNKNOWN, Client, is_secret, plain, secret

PW = random.RandomPassword.token
STR = random.RandomString.token
RID = random.RandomId.token
INT = random.RandomInteger.token
UUID = random.RandomUuid.token
PET = random.RandomPet.token
BYTES = random.RandomBytes.token

DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME


@pytest.fixture
def c():
    return Client(random.make_servicer())


def test_password_defaults_and_secret_outputs(c):
    inputs = c.checked(PW, {"length": 24})
    assert inputs == {"length": 24, "lower": True, "upper": True, "numeric": True, "number": True,
                      "special": True, "minLower": 0, "minUpper": 0, "minNumeric": 0, "minSpecial": 0}
    id_, outs = c.create(PW, inputs)
    assert id_ == "none"
    assert is_secret(outs["result"]) and is_secret(outs["bcryptHash"])
    result, hashed = plain(outs["result"]), plain(outs["bcryptHash"])
    assert len(result) == 24
    assert set(result) <= set(random.LOWER + random.UPPER + random.NUMERIC + random.SPECIAL)
    assert hashed.startswith("$2a$10$")
    assert bcrypt.checkpw(result.encode(), hashed.encode())
    assert outs["length"] == 24 and outs["special"] is True


def test_password_character_classes_and_minimums(c):
    inputs = c.checked(PW, {"length": 40, "special": False, "upper": False, "minNumeric": 10})
    result = plain(c.create(PW, inputs)[1]["result"])
    assert re.fullmatch(r"[a-z0-9]{40}", result)
    assert sum(ch.isdigit() for ch in result) >= 10


def test_override_special(c):
    inputs = c.checked(STR, {"length": 30, "lower": False, "upper": False, "numeric": False,
                             "overrideSpecial": "_%"})
    id_, outs = c.create(STR, inputs)
    assert set(outs["result"]) <= {"_", "%"} and len(outs["result"]) == 30
    assert id_ == outs["result"]
    assert not is_secret(outs["result"])  # RandomString.result is not a secret upstream


def test_number_is_the_alias_of_numeric(c):
    assert c.checked(STR, {"length": 5, "number": False})["numeric"] is False
    assert c.checked(STR, {"length": 5, "numeric": False})["number"] is False


@pytest.mark.parametrize("news,prop,reason", [
    ({"length": 0}, "length", "Attribute length value must be at least 1, got: 0"),
    ({"length": 3, "minUpper": 2, "minLower": 2}, "length", "must be at least sum of"),
    ({"length": 4, "minSpecial": -1}, "minSpecial", "must be at least 0"),
    ({}, "length", "is required"),
])
def test_password_check_failures(c, news, prop, reason):
    _, failures = c.check(PW, news)
    assert any(p == prop and reason in r for p, r in failures), failures


def test_check_tolerates_unknowns(c):
    inputs, failures = c.check(PW, {"length": UNKNOWN, "keepers": {"a": UNKNOWN}})
    assert failures == []
    assert inputs["length"] == UNKNOWN


def test_check_keeps_secret_inputs_secret(c):
    inputs, _ = c.check(PW, {"length": 8, "keepers": secret({"k": "v"})})
    assert is_secret(inputs["keepers"])
    _, outs = c.create(PW, inputs)
    assert is_secret(outs["keepers"])


def test_preview_does_not_generate(c):
    inputs = c.checked(PW, {"length": 8})
    id_, outs = c.create(PW, inputs, preview=True)
    assert id_ == ""
    assert plain(outs["result"]) == UNKNOWN and plain(outs["bcryptHash"]) == UNKNOWN


def test_diff_none_when_unchanged(c):
    inputs = c.checked(PW, {"length": 8, "keepers": {"a": "1"}})
    _, outs = c.create(PW, inputs)
    d = c.diff(PW, outs, inputs, old_inputs=inputs)
    assert d.changes == DIFF_NONE and list(d.replaces) == []


@pytest.mark.parametrize("change", [{"keepers": {"a": "2"}}, {"length": 9}, {"special": False}])
def test_any_input_change_replaces(c, change):
    inputs = c.checked(PW, {"length": 8, "keepers": {"a": "1"}})
    _, outs = c.create(PW, inputs)
    news = c.checked(PW, {"length": 8, "keepers": {"a": "1"}, **change})
    d = c.diff(PW, outs, news, old_inputs=inputs)
    assert d.changes == DIFF_SOME
    assert list(d.replaces) == list(change)
    assert d.detailedDiff[list(change)[0]].kind == provider_pb2.PropertyDiff.UPDATE_REPLACE


def test_adding_keepers_replaces_and_unknown_replaces(c):
    inputs = c.checked(RID, {"byteLength": 4})
    _, outs = c.create(RID, inputs)
    d = c.diff(RID, outs, {**inputs, "keepers": {"x": "y"}}, old_inputs=inputs)
    assert list(d.replaces) == ["keepers"]
    assert d.detailedDiff["keepers"].kind == provider_pb2.PropertyDiff.ADD_REPLACE
    d = c.diff(RID, outs, {**inputs, "byteLength": UNKNOWN}, old_inputs=inputs)
    assert list(d.replaces) == ["byteLength"]


def test_read_returns_the_state(c):
    inputs = c.checked(PW, {"length": 8})
    id_, outs = c.create(PW, inputs)
    rid, props, rin = c.read(PW, id_, outs, inputs)
    assert rid == "none" and props == outs and rin == inputs


def test_update_is_refused(c):
    from tests.unit.tools.helpers import expect_abort
    assert "in-place" in expect_abort(c.update, PW, {"length": 8}, {"length": 8})


def test_delete_is_a_noop(c):
    inputs = c.checked(PW, {"length": 8})
    id_, outs = c.create(PW, inputs)
    c.delete(PW, id_, outs)


def test_random_id_encodings_agree(c):
    id_, outs = c.create(RID, c.checked(RID, {"byteLength": 8, "prefix": "p-"}))
    raw = bytes.fromhex(outs["hex"][2:])
    assert len(raw) == 8
    assert outs["b64Std"] == "p-" + base64.b64encode(raw).decode()
    assert outs["b64Url"] == "p-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert outs["dec"] == "p-" + str(int.from_bytes(raw, "big"))
    assert id_ == outs["b64Url"][2:]


def test_random_id_byte_length_validated(c):
    _, failures = c.check(RID, {"byteLength": 0})
    assert failures and failures[0][0] == "byteLength"


def test_random_integer_range_and_seed(c):
    for _ in range(20):
        id_, outs = c.create(INT, c.checked(INT, {"min": 5, "max": 7}))
        assert 5 <= outs["result"] <= 7 and id_ == str(outs["result"])
    seeded = {c.create(INT, c.checked(INT, {"min": 0, "max": 10**9, "seed": "s"}))[1]["result"]
              for _ in range(3)}
    assert len(seeded) == 1
    _, failures = c.check(INT, {"min": 5, "max": 1})
    assert failures[0][0] == "max"


def test_random_uuid(c):
    id_, outs = c.create(UUID, c.checked(UUID, {}))
    assert str(uuid.UUID(outs["result"])) == outs["result"] == id_
    assert uuid.UUID(outs["result"]).version == 4


def test_random_pet(c):
    inputs = c.checked(PET, {"length": 3, "prefix": "lab"})
    assert inputs["separator"] == "-"
    id_, outs = c.create(PET, inputs)
    parts = id_.split("-")
    assert parts[0] == "lab" and len(parts) == 4
    assert parts[-1] in random.ANIMALS and parts[-2] in random.ADJECTIVES and parts[1] in random.ADVERBS


def test_random_bytes_secret(c):
    _, outs = c.create(BYTES, c.checked(BYTES, {"length": 16}))
    assert is_secret(outs["base64"]) and is_secret(outs["hex"])
    assert base64.b64decode(plain(outs["base64"])).hex() == plain(outs["hex"])


def test_random_uuid7(c):
    id_, outs = c.create(random.RandomUuid7.token, c.checked(random.RandomUuid7.token, {}))
    u = uuid.UUID(outs["result"])
    assert u.version == 7 and u.variant == uuid.RFC_4122 and id_ == outs["result"]
    assert random.uuid7(now_ms=0x0123456789AB).startswith("01234567-89ab-7")


def test_random_shuffle(c):
    tok = random.RandomShuffle.token
    id_, outs = c.create(tok, c.checked(tok, {"inputs": ["a", "b", "c", "d"]}))
    assert id_ == "-" and sorted(outs["results"]) == ["a", "b", "c", "d"]
    _, outs = c.create(tok, c.checked(tok, {"inputs": ["a", "b"], "resultCount": 5}))
    assert len(outs["results"]) == 5 and outs["results"].count("a") in (2, 3)
    _, outs = c.create(tok, c.checked(tok, {"inputs": ["a", "b", "c"], "resultCount": 1}))
    assert len(outs["results"]) == 1
    seeded = {tuple(c.create(tok, c.checked(tok, {"inputs": list("abcdefgh"), "seed": "x"}))[1]["results"])
              for _ in range(3)}
    assert len(seeded) == 1
    assert c.check(tok, {})[1][0][0] == "inputs"


def test_import_password_from_its_value(c):
    id_, outs, inputs = c.read(PW, "s3cr3t-Value", {})
    assert id_ == "none" and inputs["length"] == 12 and inputs["special"] is True
    assert plain(outs["result"]) == "s3cr3t-Value" and is_secret(outs["result"])
    assert bcrypt.checkpw(b"s3cr3t-Value", plain(outs["bcryptHash"]).encode())


def test_import_string_id_integer_uuid(c):
    assert c.read(STR, "abc", {})[1]["result"] == "abc"
    id_, outs, inputs = c.read(RID, "pre,AQID", {})
    assert id_ == "AQID" and inputs == {"byteLength": 3, "prefix": "pre"} and outs["hex"] == "pre010203"
    id_, outs, inputs = c.read(INT, "4,1,6,s", {})
    assert id_ == "4" and outs["result"] == 4 and inputs == {"min": 1, "max": 6, "seed": "s"}
    u = str(uuid.uuid4())
    assert c.read(UUID, u, {})[1]["result"] == u


def test_import_errors(c):
    from tests.unit.tools.helpers import expect_abort
    assert "cannot import RandomInteger" in expect_abort(c.read, INT, "x,1", {})
    assert "cannot be imported" in expect_abort(c.read, PET, "some-pet", {})
