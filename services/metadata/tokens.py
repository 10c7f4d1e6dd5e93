"""IMDSv2 session tokens: stateless, HMAC-signed, bound to the instance that asked for one.

A token is `v1.<base64url payload>.<base64url mac>`; the payload names the instance, its MAC and
source IP and the expiry. No server state: every replica holding the same key verifies it, and a
token shown by another instance (or after the IP moved to another MAC) does not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .identity import Identity

MIN_TTL, MAX_TTL = 1, 21600
SEEN_MAX = 100_000


class TokenError(Exception):
    """Invalid, expired or foreign token (-> 401)."""


class TtlError(ValueError):
    """Bad X-aws-ec2-metadata-token-ttl-seconds (-> 400)."""


def parse_ttl(value: Optional[str]) -> int:
    if value is None:
        raise TtlError("missing X-aws-ec2-metadata-token-ttl-seconds header")
    try:
        ttl = int(value.strip())
    except ValueError:
        raise TtlError("X-aws-ec2-metadata-token-ttl-seconds must be an integer") from None
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise TtlError(f"X-aws-ec2-metadata-token-ttl-seconds must be {MIN_TTL}-{MAX_TTL}")
    return ttl


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _binding(identity: Identity) -> dict:
    inst = identity.instance
    return {"n": inst.name, "i": inst.instance_id, "m": identity.mac, "a": identity.ip}


@dataclass(frozen=True)
class TokenKey:
    secret: bytes
    # token -> (binding, expiry) for tokens whose MAC already checked out: SDKs send the same
    # token on every request, so the HMAC and JSON work is done once per token.
    _seen: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Optional[Path]) -> "TokenKey":
        if path is None:
            return cls(secrets.token_bytes(32))
        data = Path(path).read_bytes().strip()
        if len(data) < 16:
            raise ValueError(f"token secret in {path} is too short (need >= 16 bytes)")
        return cls(data)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def mint(self, identity: Identity, ttl: int, now: float) -> str:
        body = dict(_binding(identity), e=int(now) + ttl)
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"v1.{payload}.{self._mac(payload)}"

    def verify(self, token: str, identity: Identity, now: float) -> None:
        seen = self._seen.get(token)
        if seen is None:
            seen = self._check(token)
            if len(self._seen) >= SEEN_MAX:
                self._seen.clear()  # crude bound; a miss only costs one HMAC
            self._seen[token] = seen
        binding, expiry = seen
        if expiry <= now:
            raise TokenError("expired token")
        if binding != _binding(identity):
            raise TokenError("token was issued to another instance")

    def _check(self, token: str) -> tuple[dict, int]:
        parts = token.strip().split(".")
        if len(parts) != 3 or parts[0] != "v1":
            raise TokenError("malformed token")
        _, payload, mac = parts
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise TokenError("invalid token")
        try:
            body = json.loads(_unb64(payload))
            expiry = int(body.pop("e"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TokenError("malformed token") from None
        return body, expiry
