"""MinIO buckets and users as resources, with the `minio` Python SDK (Minio for buckets and
bucket policies, MinioAdmin for users and their IAM policies).

- MinioBucket: a bucket plus its anonymous bucket policy (components/render/minio_policy.py;
  none for a private bucket).
- MinioUser: a user (access key + generated secret key) with one IAM policy of its own,
  `mammatus-<user>`, holding its read-write and read-only buckets.

`connection` is {endpoint: "host:port", access_key, secret_key, secure: bool, ca_pem?} with
MinIO's root credentials (a secret); with `ca_pem` (the cloud CA's root, when MinIO serves
HTTPS) the clients verify MinIO against that root alone. Pure builders (`user_policy_name`, `policy_json`) and parsers
(`parse_user_info`, `parse_policy_info`, `parse_bucket_policy`) are apart from the clients, which
are built inside each call (the provider is pickled with dill). check and diff never connect.
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.preview import known_failures
from dynamic_providers.base import MammatusProvider



POLICY_PREFIX = "mammatus-"


# ---------------------------------------------------------------- pure builders and parsers

def user_policy_name(access_key: str) -> str:
    return POLICY_PREFIX + access_key


def policy_json(policy: Optional[dict | str]) -> Optional[str]:
    """A policy document as canonical JSON (None stays None), so equal policies compare equal."""
    if policy is None or policy == "":
        return None
    doc = json.loads(policy) if isinstance(policy, str) else policy
    return json.dumps(doc, sort_keys=True)


def parse_user_info(text: str) -> dict:
    """MinIO's user-info answer: {"policyName": "a,b", "status": "enabled", …}."""
    info = json.loads(text)
    names = [p for p in (info.get("policyName") or "").split(",") if p]
    return {"policies": names, "enabled": info.get("status", "enabled") == "enabled"}


def canonical_policy(doc: dict | str) -> dict:
    """A policy document in one canonical form: MinIO returns actions, resources and statements
    in its own (unstable) order and one-element lists as strings."""
    doc = json.loads(doc) if isinstance(doc, str) else doc
    statements = sorted((_canon_statement(s) for s in doc.get("Statement", [])),
                        key=lambda s: json.dumps(s, sort_keys=True))
    return {"Version": doc.get("Version"), "Statement": statements}


def parse_policy_info(text: str) -> dict:
    """A canned policy: newer servers wrap it ({"PolicyName", "Policy"}), older return it bare."""
    info = json.loads(text)
    doc = info.get("Policy", info) if isinstance(info, dict) else info
    return canonical_policy(doc)


def _canon_statement(statement: dict) -> dict:
    out = dict(statement)
    for key in ("Action", "Resource"):
        value = out.get(key)
        out[key] = sorted([value] if isinstance(value, str) else value or [])
    principal = out.get("Principal")
    if isinstance(principal, dict) and isinstance(principal.get("AWS"), str):
        out["Principal"] = {"AWS": [principal["AWS"]]}
    return out


def parse_bucket_policy(text: Optional[str]) -> Optional[str]:
    """A bucket policy as the server returns it, canonicalised (MinIO turns one-element lists
    into strings and may reorder) so it compares with what was set."""
    if not text:
        return None
    doc = json.loads(text)
    statements = sorted((_canon_statement(s) for s in doc.get("Statement", [])),
                        key=lambda s: json.dumps(s, sort_keys=True))
    return json.dumps({"Version": doc.get("Version"), "Statement": statements}, sort_keys=True)


def canonical_bucket_policy(policy: Optional[str]) -> Optional[str]:
    return parse_bucket_policy(policy)


def _check_connection(conn, failures: list) -> None:
    if not isinstance(conn, dict) or not conn.get("endpoint") or not conn.get("access_key"):
        failures.append(CheckFailure("connection", "must be {endpoint, access_key, secret_key, secure, ca_pem?}"))
    elif "://" in str(conn["endpoint"]):
        failures.append(CheckFailure("connection", "endpoint is host:port, without a scheme"))


# ---------------------------------------------------------------- clients (built per call)

def _http_client(conn: dict):
    """None (the SDK's own pool: the system's roots) without `ca_pem`; else a pool that trusts
    the cloud's root alone, with the SDK's timeouts and retries."""
    if not conn.get("ca_pem"):
        return None
    import urllib3
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=300, read=300), maxsize=10, cert_reqs="CERT_REQUIRED",
        ca_cert_data=conn["ca_pem"],
        retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))


def _client(conn: dict):
    from minio import Minio
    return Minio(conn["endpoint"], access_key=conn["access_key"], secret_key=conn["secret_key"],
                 secure=bool(conn.get("secure", False)), cert_check=conn.get("cert_check", True),
                 http_client=_http_client(conn))


def _admin(conn: dict):
    from minio import MinioAdmin
    from minio.credentials import StaticProvider
    return MinioAdmin(endpoint=conn["endpoint"],
                      credentials=StaticProvider(conn["access_key"], conn["secret_key"]),
                      secure=bool(conn.get("secure", False)), cert_check=conn.get("cert_check", True),
                      http_client=_http_client(conn))


def _is_missing(exc: Exception, *codes: str) -> bool:
    from minio.error import MinioAdminException, S3Error
    if isinstance(exc, S3Error):
        return exc.code in codes
    if isinstance(exc, MinioAdminException):
        return exc._code in ("404",) or any(c in exc._body for c in codes)
    return False


# ---------------------------------------------------------------- providers

class BucketProvider(MammatusProvider):
    immutable = ("name", "connection")
    target = ("endpoint",)

    def check(self, _olds, news):
        failures: list = []
        name = str(news.get("name") or "")
        if not (3 <= len(name) <= 63) or name != name.lower():
            failures.append(CheckFailure("name", f"must be a 3-63 character lowercase bucket name, got {name!r}"))
        try:
            policy = canonical_bucket_policy(news.get("policy"))
        except (ValueError, AttributeError) as exc:
            failures.append(CheckFailure("policy", f"must be a JSON policy document ({exc})"))
            policy = news.get("policy")
        _check_connection(news.get("connection"), failures)
        return CheckResult({**news, "policy": policy}, known_failures(news, failures))

    def _apply_policy(self, client, name: str, policy: Optional[str]) -> None:
        if policy:
            client.set_bucket_policy(name, policy)
        else:
            client.delete_bucket_policy(name)

    def create(self, props):
        client = _client(props["connection"])
        if not client.bucket_exists(props["name"]):
            client.make_bucket(props["name"])
        self._apply_policy(client, props["name"], props.get("policy"))
        return CreateResult(id_=props["name"], outs=dict(props))

    def update(self, id_, _olds, news):
        self._apply_policy(_client(news["connection"]), id_, news.get("policy"))
        return UpdateResult(outs=dict(news))

    def read(self, id_, props):
        from minio.error import S3Error
        client = _client(props["connection"])
        if not client.bucket_exists(id_):
            return ReadResult(None, {})
        try:
            policy = parse_bucket_policy(client.get_bucket_policy(id_))
        except S3Error as exc:
            if exc.code != "NoSuchBucketPolicy":
                raise
            policy = None
        state = {**props, "name": id_, "policy": policy}
        return ReadResult(id_, state, state)

    def delete(self, id_, props):
        from minio.error import S3Error
        client = _client(props["connection"])
        try:
            client.remove_bucket(id_)
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                return
            if exc.code == "BucketNotEmpty" and props.get("force_destroy"):
                for obj in client.list_objects(id_, recursive=True):
                    client.remove_object(id_, obj.object_name)
                client.remove_bucket(id_)
                return
            if exc.code == "BucketNotEmpty":
                raise BucketNotEmpty(
                    f"bucket {id_} still holds objects: empty it, or set `forceDestroy: true` "
                    "on it in mammatus:buckets and run up, before it can be deleted") from None
            raise


class BucketNotEmpty(RuntimeError):
    pass


class UserProvider(MammatusProvider):
    immutable = ("access_key", "connection")
    outputs = ("policy_name",)
    target = ("endpoint",)

    def check(self, _olds, news):
        failures: list = []
        key = str(news.get("access_key") or "")
        if not (3 <= len(key) <= 128) or any(c in key for c in " =,"):
            failures.append(CheckFailure("access_key", f"must be 3-128 characters without ' =,', got {key!r}"))
        if len(str(news.get("secret_key") or "")) < 8:
            failures.append(CheckFailure("secret_key", "must be at least 8 characters"))
        policy = news.get("policy")
        try:
            policy = canonical_policy(policy) if policy else None
        except (ValueError, TypeError) as exc:
            failures.append(CheckFailure("policy", f"must be a JSON policy document ({exc})"))
        _check_connection(news.get("connection"), failures)
        return CheckResult({**news, "policy": policy}, known_failures(news, failures))

    def _apply(self, props: dict) -> dict:
        admin = _admin(props["connection"])
        key = props["access_key"]
        admin.user_add(key, props["secret_key"])  # creates, or sets the secret of, the user
        name = user_policy_name(key)
        if props.get("policy"):
            admin.policy_add(name, policy=props["policy"])
            current = parse_user_info(admin.user_info(key))["policies"]
            if name not in current:
                admin.attach_policy([name], user=key)
        return {**props, "policy_name": name if props.get("policy") else None}

    def create(self, props):
        return CreateResult(id_=props["access_key"], outs=self._apply(props))

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._apply(news))

    def read(self, id_, props):
        from minio.error import MinioAdminException
        admin = _admin(props["connection"])
        try:
            info = parse_user_info(admin.user_info(id_))
        except MinioAdminException as exc:
            if _is_missing(exc, "XMinioAdminNoSuchUser"):
                return ReadResult(None, {})
            raise
        name = user_policy_name(id_)
        policy = None
        if name in info["policies"]:
            policy = parse_policy_info(admin.policy_info(name))
        state = {**props, "access_key": id_, "policy": policy,
                 "policy_name": name if policy else None}
        inputs = {k: v for k, v in state.items() if k != "policy_name"}
        return ReadResult(id_, state, inputs)

    def delete(self, id_, props):
        from minio.error import MinioAdminException
        admin = _admin(props["connection"])
        for step in (lambda: admin.user_remove(id_),
                     lambda: admin.policy_remove(user_policy_name(id_))):
            try:
                step()
            except MinioAdminException as exc:
                if not _is_missing(exc, "XMinioAdminNoSuchUser", "XMinioAdminNoSuchPolicy"):
                    raise


# ---------------------------------------------------------------- resources

class MinioBucket(pulumi.dynamic.Resource, module="mammatus", name="MinioBucket"):
    """A MinIO bucket with its anonymous policy (JSON text, None = private)."""
    name: pulumi.Output[str]
    policy: pulumi.Output[Optional[str]]

    def __init__(self, resource_name: str, name: pulumi.Input[str],
                 policy: pulumi.Input[Optional[str]], connection: pulumi.Input[dict],
                 force_destroy: bool = False, opts: Optional[pulumi.ResourceOptions] = None):
        """force_destroy: deleting the bucket deletes its objects (else a bucket that holds
        any is refused, and `destroy` stops there, as S3 does)."""
        super().__init__(BucketProvider(), resource_name,
                         {"name": name, "policy": policy, "connection": connection,
                          "force_destroy": force_destroy},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                             additional_secret_outputs=["connection"])))


class MinioUser(pulumi.dynamic.Resource, module="mammatus", name="MinioUser"):
    """A MinIO user with its own IAM policy `mammatus-<access key>`."""
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    policy_name: pulumi.Output[Optional[str]]

    def __init__(self, resource_name: str, access_key: pulumi.Input[str],
                 secret_key: pulumi.Input[str], policy: pulumi.Input[Optional[dict]],
                 connection: pulumi.Input[dict], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(UserProvider(), resource_name,
                         {"access_key": access_key, "secret_key": secret_key, "policy": policy,
                          "connection": connection, "policy_name": None},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                             additional_secret_outputs=["connection", "secret_key"])))
