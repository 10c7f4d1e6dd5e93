"""A RECORDED-CONTRACT STAND-IN for Vault's HTTP API, NOT Vault.

Vault cannot be built from the Go modules reachable here (only versions under the BUSL, or one
from 2019) and no registry ships it, so the Secrets provider (dynamic_providers/vault.py) and the
instance's agent config are tested against this: an aiohttp app over HTTPS (a test CA) that
implements exactly the endpoints the provider's hvac calls and Vault Agent's AppRole auto-auth
use, with the request and response shapes of Vault's published API docs (cited per endpoint,
hashicorp/vault website/content/...), Vault's error envelope `{"errors": [...]}` and its status
codes (api-docs/index.mdx: 400 invalid request, 403 permission denied, 404 no such path or empty
list, 405 unsupported operation, 501 not initialised, 503 sealed; PUT and POST are synonyms).

What it does not do: evaluate ACL policies (the operator token may do everything, a login's
token nothing here), expire tokens it issued, or anything beyond these endpoints (any other path
is 404, as an unmounted path is). `calls` records every request (method, path, whether it was
wrapped), for tests that check what the provider sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from aiohttp import web

from tests.support.daemons import free_port
from tests.support.pki import make_pki, server_certificate

DURATION = re.compile(r"^([0-9]+)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# The approle method's token fields and role parameters (api-docs/auth/approle.mdx, "Create/Update
# AppRole", and its included tokenfields.mdx).
ROLE_FIELDS = {"bind_secret_id", "secret_id_bound_cidrs", "secret_id_num_uses", "secret_id_ttl",
               "local_secret_ids", "token_ttl", "token_max_ttl", "token_policies", "policies",
               "token_bound_cidrs", "token_explicit_max_ttl", "token_no_default_policy",
               "token_num_uses", "token_period", "period", "token_type", "enable_local_secret_ids"}
SECRET_ID_FIELDS = {"metadata", "cidr_list", "token_bound_cidrs", "num_uses", "ttl"}


class Refused(Exception):
    def __init__(self, status: int, *errors: str):
        super().__init__(status, errors)
        self.status, self.errors = status, list(errors)


def seconds(value: Any, what: str) -> int:
    """Vault's parseutil.ParseDurationSecond: an integer, or digits with s/m/h/d."""
    if isinstance(value, bool):
        raise Refused(400, f"error converting input {value!r} for field {what!r}")
    if isinstance(value, (int, float)):
        return int(value)
    match = DURATION.match(str(value).strip())
    if not match:
        raise Refused(400, f"error converting input {value!r} for field {what!r}: "
                           "time: invalid duration")
    return int(match.group(1)) * UNITS[match.group(2)]


def string_list(value: Any) -> list[str]:
    """A list, or a comma-separated string (tokenfields.mdx: "Comma-separated string or list")."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def vault_time(moment: dt.datetime) -> str:
    """RFC 3339 with nanoseconds and Z, as Vault writes creation_time."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def envelope(data: Any = None, **extra) -> dict:
    """Vault's response envelope (every sample response in api-docs)."""
    body = {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
            "lease_duration": 0, "data": data, "wrap_info": None, "warnings": None,
            "auth": None}
    body.update(extra)
    return body


@dataclass
class Role:
    params: dict
    role_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secret_ids: dict[str, dict] = field(default_factory=dict)   # accessor -> entry


@dataclass
class State:
    root_token: str
    initialized: bool = True
    sealed: bool = False
    policies: dict[str, str] = field(default_factory=lambda: {"default": DEFAULT_POLICY})
    mounts: dict[str, dict] = field(default_factory=lambda: {"token/": {
        "type": "token", "description": "token based credentials",
        "accessor": "auth_token_" + secrets.token_hex(4), "config": {}, "local": False}})
    roles: dict[str, Role] = field(default_factory=dict)
    wrapping: dict[str, dict] = field(default_factory=dict)    # token -> entry
    tokens: dict[str, dict] = field(default_factory=dict)      # logins' tokens
    calls: list[dict] = field(default_factory=list)


DEFAULT_POLICY = 'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n'
POLICY_BLOCK = re.compile(r'path\s+"[^"]+"\s*\{[^}]*capabilities\s*=\s*\[[^\]]*\][^}]*\}', re.S)


class VaultStandIn:
    def __init__(self, state: State):
        self.state = state

    # ------------------------------------------------------------ the HTTP side

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"].strip("/")
        method = request.method.upper()
        if method == "GET" and request.query.get("list") == "true":
            method = "LIST"   # api-docs/index.mdx: GET with ?list=true is LIST
        wrap_ttl = request.headers.get("X-Vault-Wrap-TTL")
        self.state.calls.append({"method": method, "path": path, "wrap_ttl": wrap_ttl})
        try:
            body = await self._body(request)
            status, answer = self.route(method, path, body, request.headers.get("X-Vault-Token", ""),
                                        wrap_ttl)
        except Refused as refusal:
            status, answer = refusal.status, {"errors": refusal.errors}
        if answer is None:
            return web.Response(status=status)
        return web.json_response(answer, status=status)

    @staticmethod
    async def _body(request: web.Request) -> dict:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise Refused(400, f"failed to parse JSON input: {exc}") from None
        if not isinstance(body, dict):
            raise Refused(400, "failed to parse JSON input: not an object")
        return body

    def route(self, method: str, path: str, body: dict, token: str,
              wrap_ttl: Optional[str]) -> tuple[int, Optional[dict]]:
        s = self.state
        if path == "sys/seal-status":
            return self.seal_status(method)
        if s.sealed or not s.initialized:
            raise Refused(503, "Vault is sealed")
        if path == "sys/wrapping/lookup":
            return self.wrapping_lookup(method, body, token)
        if path == "sys/wrapping/unwrap":
            return self.unwrap(method, body, token)
        if path == "auth/approle/login" and "approle/" in s.mounts:
            return self.login(method, body)
        if token != s.root_token:
            raise Refused(403, "permission denied")
        if path == "sys/auth":
            return self.list_auth(method)
        if path.startswith("sys/auth/"):
            return self.auth_mount(method, path[len("sys/auth/"):], body)
        if path.startswith("sys/policies/acl/"):
            return self.policy(method, path[len("sys/policies/acl/"):], body)
        if path.startswith("auth/approle/role/") and "approle/" in s.mounts:
            name, _, rest = path[len("auth/approle/role/"):].partition("/")
            return self.role(method, name.lower(), rest, body, wrap_ttl)
        raise Refused(404, f'no handler for route "{path}". route entry not found.')

    # ------------------------------------------------------------ sys/seal-status
    # api-docs/system/seal-status.mdx: GET, unauthenticated.

    def seal_status(self, method):
        if method != "GET":
            raise Refused(405, "unsupported operation")
        s = self.state
        return 200, {"type": "shamir", "initialized": s.initialized, "sealed": s.sealed,
                     "t": 1, "n": 1, "progress": 0, "nonce": "", "version": "1.15.0",
                     "build_date": "2023-09-22T16:53:10Z", "migration": False,
                     "recovery_seal": False, "storage_type": "raft"}

    # ------------------------------------------------------------ sys/auth
    # api-docs/system/auth.mdx: GET /sys/auth lists mounts ("approle/": {...}) in `data`;
    # POST /sys/auth/:path {type, description, config, local} enables (204); DELETE disables.

    def list_auth(self, method):
        if method != "GET":
            raise Refused(405, "unsupported operation")
        mounts = {k: {**v, "options": None, "seal_wrap": False, "external_entropy_access": False,
                      "uuid": v["accessor"]} for k, v in self.state.mounts.items()}
        # Vault puts the mounts at the top level too (older clients read them there).
        return 200, {**mounts, **envelope(mounts)}

    def auth_mount(self, method, path, body):
        key = path.strip("/") + "/"
        if method in ("POST", "PUT"):
            kind = body.get("type")
            if not kind:
                raise Refused(400, "plugin not found in the catalog: ")
            if kind != "approle":
                raise Refused(400, f"plugin not found in the catalog: {kind}")
            if key in self.state.mounts:
                raise Refused(400, f"path is already in use at {key}")
            self.state.mounts[key] = {"type": kind, "description": body.get("description", ""),
                                      "accessor": f"auth_{kind}_{secrets.token_hex(4)}",
                                      "config": body.get("config") or {},
                                      "local": bool(body.get("local", False))}
            return 204, None
        if method == "DELETE":
            if key == "token/":
                raise Refused(400, "token credential backend cannot be disabled")
            if self.state.mounts.pop(key, None) is not None:
                self.state.roles.clear()   # the mount's storage goes with it
            return 204, None
        raise Refused(405, "unsupported operation")

    # ------------------------------------------------------------ sys/policies/acl/:name
    # api-docs/system/policies.mdx: GET {name, policy}; POST {policy} (204); DELETE (204).

    def policy(self, method, name, body):
        name = name.lower()   # Vault keeps policy names lowercase
        if method == "GET":
            if name not in self.state.policies:
                raise Refused(404)
            data = {"name": name, "policy": self.state.policies[name]}
            return 200, {**data, **envelope(data)}
        if method in ("POST", "PUT"):
            text = body.get("policy")
            if not isinstance(text, str) or not text.strip():
                raise Refused(400, "'policy' parameter not supplied or empty")
            if name == "root":
                raise Refused(400, 'cannot update "root" policy')
            if not POLICY_BLOCK.search(text):
                raise Refused(400, "failed to parse policy: no path stanza with capabilities")
            self.state.policies[name] = text
            return 204, None
        if method == "DELETE":
            if name in ("root", "default"):
                raise Refused(400, f"cannot delete {name} policy")
            self.state.policies.pop(name, None)
            return 204, None
        raise Refused(405, "unsupported operation")

    # ------------------------------------------------------------ auth/approle/role/...
    # api-docs/auth/approle.mdx.

    def role(self, method, name, rest, body, wrap_ttl):
        roles = self.state.roles
        if rest == "":
            if method in ("POST", "PUT"):
                return self.write_role(name, body)
            if method == "GET":
                if name not in roles:
                    raise Refused(404)
                return 200, envelope(self.role_data(roles[name]))
            if method == "DELETE":
                roles.pop(name, None)
                return 204, None
            raise Refused(405, "unsupported operation")
        if rest == "role-id":
            if method != "GET":
                raise Refused(405, "unsupported operation")
            if name not in roles:
                raise Refused(404)
            return 200, envelope({"role_id": roles[name].role_id})
        if rest == "secret-id" and method in ("POST", "PUT"):
            if name not in roles:
                raise Refused(400, f'role "{name}" does not exist')
            return self.wrap(self.new_secret_id(name, roles[name], body), wrap_ttl,
                             f"auth/approle/role/{name}/secret-id")
        if rest in ("secret-id-accessor/lookup", "secret-id-accessor/destroy"):
            if method not in ("POST", "PUT"):
                raise Refused(405, "unsupported operation")
            if name not in roles:
                raise Refused(500, f'role "{name}" does not exist')
            accessor = body.get("secret_id_accessor")
            if not accessor:
                raise Refused(400, "missing secret_id_accessor")
            entry = roles[name].secret_ids.get(accessor)
            missing = f'failed to find accessor entry for secret_id_accessor: "{accessor}"'
            if rest.endswith("lookup"):
                if entry is None:   # 404 since Vault 1.9 (hashicorp/vault#12788)
                    raise Refused(404, missing)
                return 200, envelope(self.secret_id_data(entry))
            if entry is None:       # still a 500 on destroy (builtin/credential/approle)
                raise Refused(500, missing)
            del roles[name].secret_ids[accessor]
            return 204, None
        raise Refused(404, f'no handler for route "auth/approle/role/{name}/{rest}". '
                           "route entry not found.")

    def write_role(self, name, body):
        if not re.match(r"^[\w .-]{1,4095}$", name):
            raise Refused(400, "role_name contains invalid characters")
        role = self.state.roles.get(name)
        params = dict(role.params) if role else {
            "bind_secret_id": True, "secret_id_num_uses": 0, "secret_id_ttl": 0,
            "token_ttl": 0, "token_max_ttl": 0, "token_policies": [], "token_num_uses": 0,
            "token_type": "default", "token_no_default_policy": False, "token_period": 0,
            "secret_id_bound_cidrs": [], "token_bound_cidrs": [], "local_secret_ids": False,
            "token_explicit_max_ttl": 0}
        for key in ("secret_id_ttl", "token_ttl", "token_max_ttl", "token_period",
                    "token_explicit_max_ttl"):
            if key in body:
                params[key] = seconds(body[key], key)
        for key in ("secret_id_num_uses", "token_num_uses"):
            if key in body:
                params[key] = int(body[key])
                if params[key] < 0:
                    raise Refused(400, f"{key} cannot be negative")
        for key in ("bind_secret_id", "token_no_default_policy"):
            if key in body:
                params[key] = body[key] in (True, "true", "1", 1)
        if "token_policies" in body or "policies" in body:
            params["token_policies"] = string_list(body.get("token_policies", body.get("policies")))
        if params["token_max_ttl"] and params["token_ttl"] > params["token_max_ttl"]:
            raise Refused(400, "token_ttl should not be greater than token_max_ttl")
        if not params["bind_secret_id"] and not params["secret_id_bound_cidrs"]:
            raise Refused(400, "at least one constraint should be enabled on the role")
        if role:
            role.params = params
        else:
            self.state.roles[name] = Role(params)
        ignored = sorted(set(body) - ROLE_FIELDS)
        if ignored:   # Vault answers unknown parameters with a warning, not an error
            return 200, envelope(None, warnings=[
                f"Endpoint ignored these unrecognized parameters: {ignored}"])
        return 204, None

    @staticmethod
    def role_data(role: Role) -> dict:
        p = role.params
        return {**{k: v for k, v in p.items()}, "policies": p["token_policies"],
                "period": p["token_period"]}

    def new_secret_id(self, name: str, role: Role, body: dict) -> dict:
        unknown = set(body) - SECRET_ID_FIELDS
        if unknown:
            raise Refused(400, f"unknown parameters: {sorted(unknown)}")
        metadata = body.get("metadata") or "{}"
        try:
            meta = json.loads(metadata) if isinstance(metadata, str) else dict(metadata)
        except ValueError:
            raise Refused(400, "failed to parse metadata: not JSON") from None
        ttl = seconds(body["ttl"], "ttl") if "ttl" in body else role.params["secret_id_ttl"]
        if role.params["secret_id_ttl"] and ttl > role.params["secret_id_ttl"]:
            raise Refused(400, "ttl must not be greater than the role's secret_id_ttl")
        uses = int(body.get("num_uses", role.params["secret_id_num_uses"]))
        entry = {"secret_id": str(uuid.uuid4()), "accessor": str(uuid.uuid4()),
                 "metadata": {str(k): str(v) for k, v in meta.items()}, "ttl": ttl,
                 "num_uses": uses, "created": dt.datetime.now(dt.timezone.utc)}
        role.secret_ids[entry["accessor"]] = entry
        return envelope({"secret_id_accessor": entry["accessor"], "secret_id": entry["secret_id"],
                         "secret_id_ttl": ttl, "secret_id_num_uses": uses})

    @staticmethod
    def secret_id_data(entry: dict) -> dict:
        created = vault_time(entry["created"])
        expires = (vault_time(entry["created"] + dt.timedelta(seconds=entry["ttl"]))
                   if entry["ttl"] else "0001-01-01T00:00:00Z")
        return {"cidr_list": [], "creation_time": created, "expiration_time": expires,
                "last_updated_time": created, "metadata": entry["metadata"],
                "secret_id_accessor": entry["accessor"], "secret_id_num_uses": entry["num_uses"],
                "secret_id_ttl": entry["ttl"], "token_bound_cidrs": []}

    # ------------------------------------------------------------ response wrapping
    # docs/concepts/response-wrapping.mdx: X-Vault-Wrap-TTL (seconds, or 15s/20m/25h) puts the
    # response in a single-use token's cubbyhole; the answer carries wrap_info (api.SecretWrapInfo:
    # token, accessor, ttl, creation_time, creation_path, wrapped_accessor; for a secret-id the
    # wrapped accessor is its secret_id_accessor, hashicorp/vault#12173).

    def wrap(self, response: dict, wrap_ttl: Optional[str], creation_path: str):
        if not wrap_ttl:
            return 200, response
        if not re.match(r"^[0-9]+[smh]?$", wrap_ttl.strip()):
            raise Refused(400, f"error parsing X-Vault-Wrap-TTL: {wrap_ttl!r}")
        ttl = seconds(wrap_ttl, "X-Vault-Wrap-TTL")
        if ttl <= 0:
            raise Refused(400, "wrap ttl must be positive")
        token = "hvs." + secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.timezone.utc)
        entry = {"accessor": secrets.token_urlsafe(18), "ttl": ttl, "created": now,
                 "creation_path": creation_path, "response": response, "used": False,
                 "wrapped_accessor": (response.get("data") or {}).get("secret_id_accessor", "")}
        self.state.wrapping[token] = entry
        return 200, envelope(None, wrap_info={
            "token": token, "accessor": entry["accessor"], "ttl": ttl,
            "creation_time": vault_time(now), "creation_path": creation_path,
            "wrapped_accessor": entry["wrapped_accessor"]})

    def _wrapping_entry(self, token: str) -> dict:
        entry = self.state.wrapping.get(token)
        expired = entry is not None and \
            dt.datetime.now(dt.timezone.utc) > entry["created"] + dt.timedelta(seconds=entry["ttl"])
        if entry is None or entry["used"] or expired:
            raise Refused(400, "wrapping token is not valid or does not exist")
        return entry

    def wrapping_lookup(self, method, body, token):
        # api-docs/system/wrapping-lookup.mdx: POST {token}; Vault Agent's approle auto-auth
        # reads it (GET) with the wrapping token as its client token.
        if method == "GET":
            wrapping = token
        elif method in ("POST", "PUT"):
            wrapping = body.get("token") or token
        else:
            raise Refused(405, "unsupported operation")
        entry = self._wrapping_entry(wrapping)
        return 200, envelope({"creation_path": entry["creation_path"],
                              "creation_time": vault_time(entry["created"]),
                              "creation_ttl": entry["ttl"]})

    def unwrap(self, method, body, token):
        # api-docs/system/wrapping-unwrap.mdx: POST, the wrapping token as the client token or in
        # `token` (not both: that spends it); answers the original response.
        if method not in ("POST", "PUT"):
            raise Refused(405, "unsupported operation")
        given = body.get("token")
        if given and token == given:
            self.state.wrapping.pop(given, None)
            raise Refused(400, "wrapping token is not valid or does not exist")
        if given and token != self.state.root_token:
            raise Refused(403, "permission denied")
        entry = self._wrapping_entry(given or token)
        entry["used"] = True
        return 200, entry["response"]

    # ------------------------------------------------------------ auth/approle/login
    # api-docs/auth/approle.mdx, "Login with AppRole": POST {role_id, secret_id}; unauthenticated.

    def login(self, method, body):
        if method not in ("POST", "PUT"):
            raise Refused(405, "unsupported operation")
        role_id, secret_id = body.get("role_id"), body.get("secret_id")
        if not role_id:
            raise Refused(400, "missing role_id")
        found = [(n, r) for n, r in self.state.roles.items() if r.role_id == role_id]
        if not found:
            raise Refused(400, "invalid role or secret ID")
        name, role = found[0]
        entry = next((e for e in role.secret_ids.values() if e["secret_id"] == secret_id), None)
        now = dt.datetime.now(dt.timezone.utc)
        if role.params["bind_secret_id"] and (
                entry is None or (entry["ttl"] and now > entry["created"] + dt.timedelta(
                    seconds=entry["ttl"]))):
            raise Refused(400, "invalid role or secret ID")
        if entry is not None and entry["num_uses"]:
            entry["num_uses"] -= 1
            if entry["num_uses"] == 0:
                del role.secret_ids[entry["accessor"]]
        policies = sorted(set(role.params["token_policies"]) | (
            set() if role.params["token_no_default_policy"] else {"default"}))
        client_token = "hvs." + secrets.token_urlsafe(24)
        accessor = secrets.token_urlsafe(18)
        ttl = role.params["token_ttl"] or 2764800   # the system default, 768h
        self.state.tokens[client_token] = {"role": name, "policies": policies, "accessor": accessor}
        return 200, envelope(None, auth={
            "renewable": True, "lease_duration": ttl,
            "metadata": {"role_name": name, **(entry["metadata"] if entry else {})},
            "token_policies": policies, "policies": policies, "accessor": accessor,
            "client_token": client_token, "entity_id": "", "token_type": "service",
            "orphan": True})


# ---------------------------------------------------------------- running it

@dataclass
class RunningVault:
    url: str
    ca_pem: str
    root_token: str
    state: State

    def seal(self) -> None:
        self.state.sealed = True

    def paths(self, method: Optional[str] = None) -> list[str]:
        return [c["path"] for c in self.state.calls if method in (None, c["method"])]


@contextlib.contextmanager
def running_vault(tmp_path) -> Iterator[RunningVault]:
    """The stand-in on https://127.0.0.1:<port> with a certificate from a fresh test CA."""
    import ssl

    pki = make_pki()
    chain, key = server_certificate(pki, "vault.mammatus", dns_names=["localhost"],
                                    ip_addresses=["127.0.0.1"])
    cert_file, key_file = tmp_path / "vault.crt", tmp_path / "vault.key"
    cert_file.write_text(chain)
    key_file.touch(mode=0o600)   # a private key: 0600 from its first byte
    key_file.write_text(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert_file), str(key_file))

    state = State(root_token="hvs." + secrets.token_urlsafe(24))
    app = web.Application()
    app.router.add_route("*", "/v1/{path:.*}", VaultStandIn(state).handle)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield RunningVault(f"https://127.0.0.1:{port}", pki.root_pem, state.root_token, state)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()
