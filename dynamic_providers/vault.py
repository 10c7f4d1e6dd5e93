"""Vault's side of the spec (mammatus:vault), applied with `hvac` from the machine running
Pulumi over Vault's HTTPS API, trusting the cloud's root alone:

- VaultAuthMethod: an auth method enabled at a path (AppRole at `approle/`). A mount of the same
  type that was already there is adopted and left in place on delete (`managed` false).
- VaultPolicy: an ACL policy (sys/policies/acl/<name>), HCL text.
- VaultAppRole: an AppRole (auth/<mount>/role/<name>): its token policies and TTLs.
- VaultSecretId: an instance's credentials: its role's role-id and a new secret-id, which Vault
  returns wrapped in a single-use token (X-Vault-Wrap-TTL: the role's wrapTtl) that only the
  instance's agent unwraps; Pulumi never sees the secret-id itself. The wrapping token is a
  secret output. Delete destroys the secret-id by its accessor (wrap_info.wrapped_accessor);
  `read` sees a secret-id destroyed by hand (the next `up` mints a new one).

`connection` is {address: "https://host:8200", ca_pem: the cloud's root, token: an operator
token (the secret stack config key mammatus:vaultToken)}. Vault starts sealed and is initialised
and unsealed by its operator (README, "Vault: init and unseal"): a sealed or uninitialised Vault
stops `up` with that message, never a half-applied spec.

Tested against a recorded-contract stand-in of Vault's HTTP API (tests/support/vault_contract.py):
Vault cannot be built from the modules reachable here. Pure builders and parsers are apart from
the clients, which are built inside each method (dill pickles the provider); check and diff never
connect.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import time
from typing import Any, Iterator, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, UpdateResult

from dynamic_providers.base import MammatusProvider
from dynamic_providers.preview import known_failures

PATIENCE = 60.0   # seconds for a Vault that was just (re)started to answer at all
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class VaultError(RuntimeError):
    pass


# ---------------------------------------------------------------- pure builders and parsers

def seconds(duration: Any) -> int:
    """A Vault duration ("90", "15m", "1h", "7d", 3600) in seconds, as Vault itself reads it."""
    if isinstance(duration, int):
        return duration
    text = str(duration).strip()
    if text and text[-1] in _UNITS:
        return int(text[:-1]) * _UNITS[text[-1]]
    return int(text)


def role_params(props: dict) -> dict:
    """The AppRole create/update parameters (api-docs/auth/approle): a secret-id is always
    required, and tokens have unlimited uses (auto-auth cannot track a use count)."""
    return {"token_policies": sorted(props["token_policies"]),
            "token_ttl": props["token_ttl"], "token_max_ttl": props["token_max_ttl"],
            "secret_id_ttl": props["secret_id_ttl"],
            "secret_id_num_uses": int(props["secret_id_num_uses"]),
            "bind_secret_id": True, "token_num_uses": 0}


def role_view(data: dict) -> dict:
    """What a role is, from Vault's read-role data or from the parameters: durations in seconds,
    policies sorted, so the two compare."""
    return {"token_policies": sorted(data.get("token_policies") or []),
            "token_ttl": seconds(data.get("token_ttl", 0)),
            "token_max_ttl": seconds(data.get("token_max_ttl", 0)),
            "secret_id_ttl": seconds(data.get("secret_id_ttl", 0)),
            "secret_id_num_uses": int(data.get("secret_id_num_uses", 0)),
            "bind_secret_id": bool(data.get("bind_secret_id", True)),
            "token_num_uses": int(data.get("token_num_uses", 0))}


def wrapping_path(mount: str, role: str) -> str:
    return f"auth/{mount}/role/{role}/secret-id"


def parse_wrapped_secret_id(response: dict, mount: str, role: str) -> dict:
    """The credentials in Vault's answer to a wrapped secret-id request: its wrap_info
    (token, accessor, ttl, creation_time, creation_path, wrapped_accessor; api.SecretWrapInfo).
    A token made elsewhere than the role's secret-id path would not unwrap to a secret-id, and
    without the secret-id's accessor it could never be destroyed: both are refused."""
    info = (response or {}).get("wrap_info") or {}
    if not info.get("token"):
        raise VaultError(f"Vault did not wrap the secret-id of role {role}: {response!r:.200}")
    if info.get("creation_path") != wrapping_path(mount, role):
        raise VaultError(f"the wrapped secret-id was made at {info.get('creation_path')!r}, not "
                         f"{wrapping_path(mount, role)!r}")
    if not info.get("wrapped_accessor"):
        raise VaultError("Vault returned no wrapped_accessor for the wrapped secret-id (Vault "
                         "too old, hashicorp/vault#12173): it could not be destroyed later")
    return {"wrapping_token": info["token"], "wrapping_accessor": info.get("accessor", ""),
            "secret_id_accessor": info["wrapped_accessor"],
            "wrap_expires": wrap_expiry(info.get("creation_time", ""), int(info.get("ttl", 0)))}


def wrap_expiry(creation_time: str, ttl: int) -> str:
    """When the wrapping token expires (RFC 3339, UTC), from its creation time and TTL."""
    text = creation_time.replace("Z", "+00:00")
    # Vault writes nanoseconds; Python reads up to microseconds.
    if "." in text:
        head, tail = text.split(".", 1)
        digits = "".join(itertools.takewhile(str.isdigit, tail))
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    created = datetime.datetime.fromisoformat(text)
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    expires = created + datetime.timedelta(seconds=ttl)
    return expires.astimezone(datetime.timezone.utc).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _check_connection(conn: Any, failures: list) -> None:
    if not isinstance(conn, dict) or not conn.get("address") or not conn.get("token"):
        failures.append(CheckFailure("connection", "must be {address, ca_pem, token}"))
    elif not str(conn["address"]).startswith("https://"):
        failures.append(CheckFailure("connection", "Vault's API is HTTPS only"))


def _required(news: dict, names: tuple[str, ...], failures: list) -> None:
    failures += [CheckFailure(n, f"{n} is required") for n in names if not news.get(n)]


# ---------------------------------------------------------------- clients (built per call)

@contextlib.contextmanager
def vault(conn: dict) -> Iterator[Any]:
    """An hvac client for `conn`, trusting its ca_pem alone, once Vault answers unsealed;
    Vault's refusals as VaultError with what to do."""
    import os
    import tempfile

    import hvac
    import requests
    from hvac import exceptions

    address = conn["address"].rstrip("/")
    with tempfile.TemporaryDirectory(prefix="mammatus-vault-") as tmp:
        verify: Any = True
        if conn.get("ca_pem"):
            verify = os.path.join(tmp, "ca.pem")   # requests wants the root as a file
            with open(verify, "w") as f:
                f.write(conn["ca_pem"])
        client = hvac.Client(url=address, token=conn["token"], verify=verify, timeout=30)
        try:
            _wait_unsealed(client, address)
            yield client
        except exceptions.Forbidden as exc:
            raise VaultError(f"Vault at {address} refused the operator token "
                             f"(mammatus:vaultToken): {exc}") from None
        except (exceptions.VaultDown, exceptions.VaultNotInitialized) as exc:
            raise VaultError(_sealed_message(address, str(exc))) from None
        except requests.exceptions.SSLError as exc:
            raise VaultError(f"Vault at {address} is not the cloud's (its certificate does not "
                             f"verify against the cloud's root): {exc}") from None
        finally:
            client.adapter.close()


def _sealed_message(address: str, detail: str) -> str:
    return (f"Vault at {address} is sealed or not initialised ({detail}): initialise and unseal "
            "it (README, 'Vault: init and unseal'), then run up again")


def _wait_unsealed(client, address: str, patience: Optional[float] = None) -> None:
    """Until Vault answers its (unauthenticated) seal status; sealed or uninitialised is final."""
    import requests

    deadline = time.monotonic() + (PATIENCE if patience is None else patience)
    while True:
        try:
            status = client.sys.read_seal_status()
            break
        except requests.exceptions.SSLError:
            raise
        except requests.exceptions.ConnectionError as exc:
            if time.monotonic() >= deadline:
                raise VaultError(f"Vault at {address} did not answer within "
                                 f"{PATIENCE:.0f} s: {exc}") from None
            time.sleep(1.0)
    if not status.get("initialized", False):
        raise VaultError(_sealed_message(address, "not initialised"))
    if status.get("sealed", True):
        raise VaultError(_sealed_message(address, "sealed"))


def _missing(exc: Exception) -> bool:
    """Vault's answers for something that is not there: 404, or (before Vault 1.9, and still for
    a secret-id accessor's destroy) a 500 that says so."""
    from hvac import exceptions

    if isinstance(exc, exceptions.InvalidPath):
        return True
    text = str(exc)
    return isinstance(exc, (exceptions.InternalServerError, exceptions.InvalidRequest)) \
        and ("failed to find accessor entry" in text or "does not exist" in text)


# ---------------------------------------------------------------- providers

class _VaultProvider(MammatusProvider):
    target = ("address",)
    required: tuple[str, ...] = ()

    def check(self, _olds, news):
        failures: list = []
        _required(news, self.required, failures)
        _check_connection(news.get("connection"), failures)
        return CheckResult(dict(news), known_failures(news, failures))


class AuthMethodProvider(_VaultProvider):
    immutable = ("connection", "path", "type")
    outputs = ("accessor", "managed")
    required = ("path", "type")

    @staticmethod
    def _mounts(client) -> dict:
        answer = client.sys.list_auth_methods()
        return answer.get("data", answer)

    def create(self, props):
        key = props["path"].strip("/") + "/"
        with vault(props["connection"]) as client:
            mounts = self._mounts(client)
            managed = key not in mounts
            if not managed and mounts[key].get("type") != props["type"]:
                raise VaultError(f"auth/{key} is a {mounts[key].get('type')} mount, not "
                                 f"{props['type']}: disable it or choose another path")
            if managed:
                client.sys.enable_auth_method(method_type=props["type"], path=key.rstrip("/"),
                                              description=props.get("description") or None)
                mounts = self._mounts(client)
        return CreateResult(key.rstrip("/"), {**props, "managed": managed,
                                              "accessor": mounts[key].get("accessor", "")})

    def update(self, _id, olds, news):
        # Only the connection can change in place (a rotated operator token).
        return UpdateResult({**news, "managed": olds.get("managed", False),
                             "accessor": olds.get("accessor", "")})

    def read(self, id_, props):
        with vault(props["connection"]) as client:
            mount = self._mounts(client).get(id_ + "/")
        if mount is None:
            return ReadResult(None, {})
        state = {**props, "type": mount.get("type"), "accessor": mount.get("accessor", "")}
        return ReadResult(id_, state, {k: v for k, v in state.items() if k not in self.outputs})

    def delete(self, id_, props):
        if not props.get("managed"):
            return   # it was there before Mammatus: left as found
        with vault(props["connection"]) as client:
            client.sys.disable_auth_method(path=id_)


class PolicyProvider(_VaultProvider):
    immutable = ("connection", "name")
    required = ("name", "policy")

    def _apply(self, props) -> None:
        with vault(props["connection"]) as client:
            client.sys.create_or_update_acl_policy(name=props["name"], policy=props["policy"])

    def create(self, props):
        self._apply(props)
        return CreateResult(props["name"], dict(props))

    def update(self, _id, _olds, news):
        self._apply(news)
        return UpdateResult(dict(news))

    def read(self, id_, props):
        from hvac.exceptions import InvalidPath

        with vault(props["connection"]) as client:
            try:
                answer = client.sys.read_acl_policy(name=id_)
            except InvalidPath:
                return ReadResult(None, {})
        data = answer.get("data") or answer
        state = {**props, "name": id_, "policy": data.get("policy", "")}
        return ReadResult(id_, state, state)

    def delete(self, id_, props):
        with vault(props["connection"]) as client:
            client.sys.delete_acl_policy(name=id_)


class AppRoleProvider(_VaultProvider):
    immutable = ("connection", "mount", "name")
    required = ("mount", "name", "token_policies")

    def _apply(self, props) -> None:
        with vault(props["connection"]) as client:
            client.auth.approle.create_or_update_approle(
                role_name=props["name"], mount_point=props["mount"], **role_params(props))

    def create(self, props):
        self._apply(props)
        return CreateResult(props["name"], dict(props))

    def update(self, _id, _olds, news):
        self._apply(news)
        return UpdateResult(dict(news))

    def read(self, id_, props):
        from hvac.exceptions import InvalidPath

        with vault(props["connection"]) as client:
            try:
                data = client.auth.approle.read_role(role_name=id_, mount_point=props["mount"])["data"]
            except InvalidPath:
                return ReadResult(None, {})
        if role_view(data) == role_view(role_params(props)):
            return ReadResult(id_, dict(props), dict(props))
        # Changed in Vault: what it holds, so the next diff sets it back.
        seen = role_view(data)
        state = {**props, "token_policies": seen["token_policies"],
                 **{k: f"{seen[k]}s" for k in ("token_ttl", "token_max_ttl", "secret_id_ttl")},
                 "secret_id_num_uses": seen["secret_id_num_uses"]}
        return ReadResult(id_, state, state)

    def delete(self, id_, props):
        from hvac.exceptions import InvalidPath

        with vault(props["connection"]) as client:
            try:
                client.auth.approle.delete_role(role_name=id_, mount_point=props["mount"])
            except InvalidPath:
                pass


SECRET_ID_OUTPUTS = ("role_id", "wrapping_token", "wrapping_accessor", "secret_id_accessor",
                     "wrap_expires")


class SecretIdProvider(_VaultProvider):
    # Another role or instance is another secret-id; a new wrap TTL applies to the next one.
    immutable = ("connection", "mount", "role", "instance")
    outputs = SECRET_ID_OUTPUTS
    required = ("mount", "role", "instance", "wrap_ttl")

    def create(self, props):
        mount, role = props["mount"], props["role"]
        with vault(props["connection"]) as client:
            role_id = client.auth.approle.read_role_id(role_name=role, mount_point=mount)[
                "data"]["role_id"]
            answer = client.auth.approle.generate_secret_id(
                role_name=role, mount_point=mount, wrap_ttl=props["wrap_ttl"],
                metadata={"instance": props["instance"]})
        minted = parse_wrapped_secret_id(answer, mount, role)
        return CreateResult(minted["secret_id_accessor"], {**props, "role_id": role_id, **minted})

    def update(self, _id, olds, news):
        # The credentials stay: minting anew would take the instance's away.
        return UpdateResult({**news, **{k: olds.get(k) for k in SECRET_ID_OUTPUTS}})

    def read(self, id_, props):
        with vault(props["connection"]) as client:
            try:
                client.auth.approle.read_secret_id_accessor(
                    role_name=props["role"], secret_id_accessor=id_, mount_point=props["mount"])
            except Exception as exc:   # hvac's, sorted by _missing
                if _missing(exc):
                    return ReadResult(None, {})
                raise
        return ReadResult(id_, dict(props), {k: v for k, v in props.items()
                                             if k not in SECRET_ID_OUTPUTS})

    def delete(self, id_, props):
        with vault(props["connection"]) as client:
            try:
                client.auth.approle.destroy_secret_id_accessor(
                    role_name=props["role"], secret_id_accessor=id_, mount_point=props["mount"])
            except Exception as exc:
                if not _missing(exc):
                    raise


# ---------------------------------------------------------------- resources

def _secret(opts: Optional[pulumi.ResourceOptions], *names: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
        additional_secret_outputs=["connection", *names]))


class VaultAuthMethod(pulumi.dynamic.Resource, module="mammatus", name="VaultAuthMethod"):
    accessor: pulumi.Output[str]
    managed: pulumi.Output[bool]

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], path: str,
                 method_type: str, description: str = "",
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(AuthMethodProvider(), resource_name, {
            "connection": connection, "path": path, "type": method_type,
            "description": description, "accessor": None, "managed": None}, _secret(opts))


class VaultPolicy(pulumi.dynamic.Resource, module="mammatus", name="VaultPolicy"):
    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str,
                 policy: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(PolicyProvider(), resource_name, {
            "connection": connection, "name": name, "policy": policy}, _secret(opts))


class VaultAppRole(pulumi.dynamic.Resource, module="mammatus", name="VaultAppRole"):
    def __init__(self, resource_name: str, connection: pulumi.Input[dict], mount: str,
                 name: str, token_policies: list[str], token_ttl: str, token_max_ttl: str,
                 secret_id_ttl: str, secret_id_num_uses: int,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(AppRoleProvider(), resource_name, {
            "connection": connection, "mount": mount, "name": name,
            "token_policies": sorted(token_policies), "token_ttl": token_ttl,
            "token_max_ttl": token_max_ttl, "secret_id_ttl": secret_id_ttl,
            "secret_id_num_uses": secret_id_num_uses}, _secret(opts))


class VaultSecretId(pulumi.dynamic.Resource, module="mammatus", name="VaultSecretId"):
    """An instance's AppRole credentials: `role_id` and `wrapping_token` (the response-wrapped
    secret-id, single-use, valid until `wrap_expires`), both secret."""
    role_id: pulumi.Output[str]
    wrapping_token: pulumi.Output[str]
    wrapping_accessor: pulumi.Output[str]
    secret_id_accessor: pulumi.Output[str]
    wrap_expires: pulumi.Output[str]

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], mount: str,
                 role: str, instance: str, wrap_ttl: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(SecretIdProvider(), resource_name, {
            "connection": connection, "mount": mount, "role": role, "instance": instance,
            "wrap_ttl": wrap_ttl, **{k: None for k in SECRET_ID_OUTPUTS}},
            _secret(opts, "role_id", "wrapping_token"))
