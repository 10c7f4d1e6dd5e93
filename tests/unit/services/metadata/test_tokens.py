import pytest

from services.metadata.tokens import TokenError, TokenKey, TtlError, parse_ttl

from .helpers import DB, ident

KEY = TokenKey(b"k" * 32)
NOW = 1_800_000_000


def test_round_trip():
    token = KEY.mint(ident(), 60, NOW)
    KEY.verify(token, ident(), NOW + 59)  # no exception


@pytest.mark.parametrize("case,message", [
    ("expired", "expired"),
    ("other instance", "another instance"),
    ("other ip", "another instance"),
    ("other key", "invalid"),
    ("tampered", "invalid"),
    ("garbage", "malformed"),
])
def test_rejections(case, message):
    token = KEY.mint(ident(), 60, NOW)
    verifier, who, when = KEY, ident(), NOW
    if case == "expired":
        when = NOW + 60
    elif case == "other instance":
        who = ident(DB)
    elif case == "other ip":
        who = ident(ip="10.0.0.99")
    elif case == "other key":
        verifier = TokenKey(b"x" * 32)
    elif case == "tampered":
        head, payload, mac = token.split(".")
        token = f"{head}.{payload[:-2]}AA.{mac}"
    elif case == "garbage":
        token = "not-a-token"
    with pytest.raises(TokenError, match=message):
        verifier.verify(token, who, when)


def test_token_reveals_no_key_and_is_replica_independent():
    token = KEY.mint(ident(), 60, NOW)
    assert b"k" * 8 not in token.encode()
    TokenKey(b"k" * 32).verify(token, ident(), NOW)  # a second process with the same key


def test_key_file(tmp_path):
    path = tmp_path / "key"
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="too short"):
        TokenKey.load(path)
    path.write_bytes(b"0123456789abcdef0123\n")
    assert TokenKey.load(path).secret == b"0123456789abcdef0123"
    assert TokenKey.load(None).secret != TokenKey.load(None).secret


@pytest.mark.parametrize("value,expected", [("1", 1), ("21600", 21600), (" 300 ", 300)])
def test_ttl_ok(value, expected):
    assert parse_ttl(value) == expected


@pytest.mark.parametrize("value", [None, "", "0", "21601", "-1", "1.5", "ten"])
def test_ttl_bad(value):
    with pytest.raises(TtlError):
        parse_ttl(value)
