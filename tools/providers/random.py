"""Mammatus' ``random`` resource provider (the resources of pulumi_random 4.x).

Semantics follow the upstream (Terraform-bridged) provider: every input change replaces the
resource (``keepers`` included), values are generated with the OS CSPRNG, ``result`` and
``bcryptHash`` of RandomPassword are secrets, IDs are what upstream uses ("none" for passwords,
the value itself for strings/UUIDs/pets, the b64url for RandomId, the number for RandomInteger).
"""
from __future__ import annotations

import base64
import random as _pyrandom
import secrets
import uuid

import bcrypt

from tools.providers._base import (
    UNKNOWN, CheckFailure, ProviderError, ProviderServicer, ResourceType, contains_unknown, serve)
from tools.providers._version import sdk_version

NAME = "random"

NUMERIC = "0123456789"
LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SPECIAL = "!@#$%&*()-_=+[]{}<>:?"

KEEPERS = {"keepers": "object"}


def _int_failures(news: dict, name: str, minimum: int) -> list[CheckFailure]:
    v = news.get(name)
    if v is None or v is UNKNOWN:
        return []
    if not isinstance(v, int) or isinstance(v, bool):
        return []  # a type error, reported by ResourceType.check
    if v < minimum:
        return [CheckFailure(name, f"Attribute {name} value must be at least {minimum}, got: {v}")]
    return []


def _to_snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


class _Random(ResourceType):
    replace_on = frozenset({"*"})
    defaults: dict = {}

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        for k, v in self.defaults.items():
            if inputs.get(k) is None:
                inputs[k] = v
        if inputs.get("keepers") not in (None, UNKNOWN) and not isinstance(inputs["keepers"], dict):
            failures.append(CheckFailure("keepers", "Attribute keepers must be a map of strings"))
        return inputs, failures

    def generate(self, inputs: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def import_(self, id: str) -> tuple[str, dict, dict]:
        raise ProviderError(f"{self.token} cannot be imported")

    def read(self, id, state, inputs):
        if state:
            return id, state, inputs
        # `pulumi import` / `.get()`: only the ID is known; rebuild the state from it (as upstream).
        return self.import_(id)

    def create(self, name, inputs, preview):
        if preview:
            outs = dict(inputs)
            outs.update({k: UNKNOWN for k in self.outputs})
            return "", outs
        if contains_unknown(inputs):
            raise ProviderError(f"{self.token}: inputs are not known")
        id_, computed = self.generate(inputs)
        outs = dict(inputs)
        outs.update(computed)
        return id_, outs


# -- strings and passwords ----------------------------------------------------------------------

_STRING_INPUTS = {
    "length": "integer", "lower": "boolean", "upper": "boolean", "numeric": "boolean",
    "number": "boolean", "special": "boolean", "minLower": "integer", "minUpper": "integer",
    "minNumeric": "integer", "minSpecial": "integer", "overrideSpecial": "string", **KEEPERS,
}
_STRING_DEFAULTS = {"lower": True, "upper": True, "numeric": True, "number": True, "special": True,
                    "minLower": 0, "minUpper": 0, "minNumeric": 0, "minSpecial": 0}


def generate_string(length: int, *, lower=True, upper=True, numeric=True, special=True,
                    min_lower=0, min_upper=0, min_numeric=0, min_special=0,
                    override_special: str | None = None) -> str:
    """Like upstream: each min_* class contributes its minimum count (whether or not the class is
    enabled), the rest is drawn from the enabled classes, then the characters are shuffled."""
    specials = override_special if override_special else SPECIAL
    pool = (UPPER if upper else "") + (LOWER if lower else "") + (NUMERIC if numeric else "") + \
           (specials if special else "")
    chars: list[str] = []
    for charset, count in ((NUMERIC, min_numeric), (LOWER, min_lower), (UPPER, min_upper),
                           (specials, min_special)):
        chars += [secrets.choice(charset) for _ in range(count)]
    rest = length - len(chars)
    if rest > 0:
        if not pool:
            raise ProviderError("the character set is empty: enable at least one of lower, upper, "
                                "numeric, special")
        chars += [secrets.choice(pool) for _ in range(rest)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class RandomString(_Random):
    token = "random:index/randomString:RandomString"
    inputs = _STRING_INPUTS
    outputs = {"result": "string"}
    required = ("length",)
    defaults = _STRING_DEFAULTS

    def check(self, olds, news):
        news = dict(news)
        # `number` is the deprecated alias of `numeric`; upstream keeps them in sync.
        if news.get("numeric") is None and news.get("number") is not None:
            news["numeric"] = news["number"]
        if news.get("number") is None and news.get("numeric") is not None:
            news["number"] = news["numeric"]
        inputs, failures = super().check(olds, news)
        failures += _int_failures(inputs, "length", 1)
        for m in ("minLower", "minUpper", "minNumeric", "minSpecial"):
            failures += _int_failures(inputs, m, 0)
        if inputs.get("number") is not UNKNOWN and inputs.get("numeric") is not UNKNOWN \
                and inputs.get("number") != inputs.get("numeric"):
            failures.append(CheckFailure("numeric", "Attribute numeric must equal number "
                                         "(number is the deprecated alias of numeric)"))
        mins = [inputs.get(m) for m in ("minLower", "minNumeric", "minSpecial", "minUpper")]
        length = inputs.get("length")
        if not failures and isinstance(length, int) and all(isinstance(m, int) for m in mins) \
                and length < sum(mins):
            failures.append(CheckFailure(
                "length", "Attribute length value must be at least sum of min_lower + min_numeric "
                          f"+ min_special + min_upper, got: {length}"))
        return inputs, failures

    def _value(self, i: dict) -> str:
        return generate_string(
            i["length"], lower=i["lower"], upper=i["upper"], numeric=i["numeric"],
            special=i["special"], min_lower=i["minLower"], min_upper=i["minUpper"],
            min_numeric=i["minNumeric"], min_special=i["minSpecial"],
            override_special=i.get("overrideSpecial"))

    def generate(self, inputs):
        result = self._value(inputs)
        return result, {"result": result}

    def import_(self, id):
        inputs, _ = self.check({}, {"length": len(id)})
        id_, outs = self._imported(id, inputs)
        return id_, outs, inputs

    def _imported(self, value: str, inputs: dict) -> tuple[str, dict]:
        return value, {**inputs, "result": value}


def bcrypt_hash(password: str) -> str:
    """bcrypt at cost 10 with Go's "$2a$" prefix (the same algorithm as "$2b$" for passwords up to
    72 bytes; bcrypt only ever uses the first 72 bytes)."""
    h = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=10)).decode()
    return "$2a$" + h[4:] if h.startswith("$2b$") else h


class RandomPassword(RandomString):
    token = "random:index/randomPassword:RandomPassword"
    outputs = {"result": "string", "bcryptHash": "string"}
    secret_outputs = frozenset({"result", "bcryptHash"})

    def generate(self, inputs):
        result = self._value(inputs)
        return "none", {"result": result, "bcryptHash": bcrypt_hash(result)}

    def _imported(self, value, inputs):
        return "none", {**inputs, "result": value, "bcryptHash": bcrypt_hash(value)}


# -- ids, integers, uuids, bytes ----------------------------------------------------------------


class RandomId(_Random):
    token = "random:index/randomId:RandomId"
    inputs = {"byteLength": "integer", "prefix": "string", **KEEPERS}
    outputs = {"b64Std": "string", "b64Url": "string", "dec": "string", "hex": "string"}
    required = ("byteLength",)

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        return inputs, failures + _int_failures(inputs, "byteLength", 1)

    @staticmethod
    def encode(raw: bytes, prefix: str = "") -> dict:
        return {
            "b64Url": prefix + base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "b64Std": prefix + base64.b64encode(raw).decode(),
            "hex": prefix + raw.hex(),
            "dec": prefix + str(int.from_bytes(raw, "big")),
        }

    def generate(self, inputs):
        raw = secrets.token_bytes(inputs["byteLength"])
        return base64.urlsafe_b64encode(raw).decode().rstrip("="), \
            self.encode(raw, inputs.get("prefix") or "")

    def import_(self, id):
        """ID: "<b64url>" or "<prefix>,<b64url>"."""
        prefix, _, b64 = id.rpartition(",")
        try:
            raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except ValueError as e:
            raise ProviderError(f"cannot import RandomId {id!r}: {e}") from None
        inputs = {"byteLength": len(raw)}
        if prefix:
            inputs["prefix"] = prefix
        return b64, {**inputs, **self.encode(raw, prefix)}, inputs


class RandomBytes(_Random):
    token = "random:index/randomBytes:RandomBytes"
    inputs = {"length": "integer", **KEEPERS}
    outputs = {"base64": "string", "hex": "string"}
    secret_outputs = frozenset({"base64", "hex"})
    required = ("length",)

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        return inputs, failures + _int_failures(inputs, "length", 1)

    def generate(self, inputs):
        raw = secrets.token_bytes(inputs["length"])
        b64 = base64.b64encode(raw).decode()
        return b64, {"base64": b64, "hex": raw.hex()}


class RandomInteger(_Random):
    token = "random:index/randomInteger:RandomInteger"
    inputs = {"min": "integer", "max": "integer", "seed": "string", **KEEPERS}
    outputs = {"result": "integer"}
    required = ("min", "max")

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        lo, hi = inputs.get("min"), inputs.get("max")
        if isinstance(lo, int) and isinstance(hi, int) and hi < lo:
            failures.append(CheckFailure("max", f"Attribute max value must be at least {lo}, got: {hi}"))
        return inputs, failures

    def generate(self, inputs):
        lo, hi, seed = inputs["min"], inputs["max"], inputs.get("seed")
        rng = _pyrandom.Random(seed) if seed else secrets.SystemRandom()
        value = rng.randint(lo, hi)
        return str(value), {"result": value}

    def import_(self, id):
        """ID: "result,min,max" or "result,min,max,seed"."""
        parts = id.split(",")
        try:
            if len(parts) not in (3, 4):
                raise ValueError("expected result,min,max[,seed]")
            result, lo, hi = (int(p) for p in parts[:3])
        except ValueError as e:
            raise ProviderError(f"cannot import RandomInteger {id!r}: {e}") from None
        inputs = {"min": lo, "max": hi}
        if len(parts) == 4:
            inputs["seed"] = parts[3]
        return str(result), {**inputs, "result": result}, inputs


class RandomUuid(_Random):
    token = "random:index/randomUuid:RandomUuid"
    inputs = dict(KEEPERS)
    outputs = {"result": "string"}

    def generate(self, inputs):
        value = str(uuid.uuid4())
        return value, {"result": value}

    def import_(self, id):
        try:
            value = str(uuid.UUID(id))
        except ValueError as e:
            raise ProviderError(f"cannot import {self.token} {id!r}: {e}") from None
        return value, {"result": value}, {}


class RandomUuid4(RandomUuid):
    token = "random:index/randomUuid4:RandomUuid4"


def uuid7(now_ms: int | None = None) -> str:
    """RFC 9562 UUIDv7: 48-bit Unix milliseconds, version 7, 74 random bits, variant 10."""
    import time
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | secrets.randbits(12) << 64 | 0b10 << 62 \
        | secrets.randbits(62)
    return str(uuid.UUID(int=value))


class RandomUuid7(_Random):
    token = "random:index/randomUuid7:RandomUuid7"
    inputs = dict(KEEPERS)
    outputs = {"result": "string"}

    def generate(self, inputs):
        value = uuid7()
        return value, {"result": value}


class RandomShuffle(_Random):
    token = "random:index/randomShuffle:RandomShuffle"
    inputs = {"inputs": "array", "resultCount": "integer", "seed": "string", **KEEPERS}
    outputs = {"results": "array"}
    required = ("inputs",)

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        return inputs, failures + _int_failures(inputs, "resultCount", 0)

    def generate(self, inputs):
        items = list(inputs["inputs"])
        seed = inputs.get("seed")
        rng = _pyrandom.Random(seed) if seed else secrets.SystemRandom()
        count = inputs.get("resultCount")
        count = len(items) if count is None else count
        results: list = []
        while items and len(results) < count:  # more than len(items): repeat, each at most once per round
            round_ = list(items)
            rng.shuffle(round_)
            results += round_[:count - len(results)]
        return "-", {"results": results}


# -- pets ---------------------------------------------------------------------------------------

ADVERBS = ("quickly", "slowly", "gently", "boldly", "calmly", "eagerly", "freely", "gladly",
           "happily", "kindly", "lightly", "loudly", "merely", "neatly", "openly", "politely",
           "quietly", "rapidly", "really", "simply", "smoothly", "softly", "solely", "surely",
           "truly", "vastly", "warmly", "wholly", "wildly", "wisely")
ADJECTIVES = ("able", "brave", "bright", "busy", "calm", "clever", "cosmic", "crisp", "daring",
              "eager", "fair", "fancy", "fast", "fine", "firm", "fit", "fond", "free", "fresh",
              "gentle", "glad", "golden", "good", "grand", "happy", "hardy", "helpful", "honest",
              "humble", "jolly", "keen", "kind", "lively", "loyal", "lucky", "merry", "mighty",
              "modest", "neat", "nice", "noble", "patient", "polite", "proud", "quick", "quiet",
              "rapid", "ready", "sharp", "shy", "smart", "steady", "sunny", "super", "sure",
              "swift", "tidy", "trusty", "vivid", "warm", "wise", "witty", "young", "zesty")
ANIMALS = ("alpaca", "badger", "beagle", "beaver", "bison", "bobcat", "buffalo", "camel", "cat",
           "cheetah", "cobra", "collie", "condor", "cougar", "coyote", "crane", "dingo", "dodo",
           "dolphin", "donkey", "eagle", "egret", "falcon", "ferret", "finch", "gazelle", "gecko",
           "gibbon", "goose", "gopher", "hare", "hawk", "heron", "hippo", "ibex", "impala",
           "jackal", "jaguar", "koala", "lemur", "leopard", "lion", "llama", "lynx", "marmot",
           "mink", "moose", "narwhal", "newt", "ocelot", "orca", "otter", "owl", "panda",
           "parrot", "pelican", "puma", "quail", "rabbit", "raven", "seal", "shark", "sloth",
           "swan", "tapir", "tiger", "toucan", "turtle", "walrus", "weasel", "whale", "wombat",
           "yak", "zebra")


def pet_name(length: int, separator: str) -> str:
    words: list[str] = []
    if length >= 1:
        words.append(secrets.choice(ANIMALS))
    if length >= 2:
        words.insert(0, secrets.choice(ADJECTIVES))
    for _ in range(max(0, length - 2)):
        words.insert(0, secrets.choice(ADVERBS))
    return separator.join(words)


class RandomPet(_Random):
    token = "random:index/randomPet:RandomPet"
    inputs = {"length": "integer", "prefix": "string", "separator": "string", **KEEPERS}
    outputs = {}
    defaults = {"length": 2, "separator": "-"}

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        return inputs, failures + _int_failures(inputs, "length", 1)

    def create(self, name, inputs, preview):
        if preview:
            return "", dict(inputs)
        return super().create(name, inputs, preview)

    def generate(self, inputs):
        sep = inputs["separator"]
        pet = pet_name(inputs["length"], sep)
        if inputs.get("prefix"):
            pet = inputs["prefix"] + sep + pet
        return pet, {}


RESOURCES = (RandomString(), RandomPassword(), RandomId(), RandomBytes(), RandomInteger(),
             RandomUuid(), RandomUuid4(), RandomUuid7(), RandomShuffle(), RandomPet())


def make_servicer() -> ProviderServicer:
    return ProviderServicer(NAME, sdk_version("pulumi_random"), RESOURCES)


def main() -> None:
    serve(make_servicer())


if __name__ == "__main__":
    main()
