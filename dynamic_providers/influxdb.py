"""InfluxDB's database, retention policy and users, applied over its HTTP API (/query) from the
machine running Pulumi, as step-ca's certificates are: the statements come from
components/render/influx.py, the answers are parsed here.

Authentication is on from the first start, so the first `up` makes the admin user (InfluxDB
accepts that one statement without credentials while no admin exists) and everything after
authenticates as it. A rotated admin password is set with the old one. `read` sees a dropped
database, policy or user (refresh, then `up` makes it again)."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, UpdateResult

from components.render import influx
from dynamic_providers import https
from dynamic_providers.base import MammatusProvider

PRIVILEGES = {influx.WRITER: "WRITE", influx.READER: "READ"}


def privilege_of(user: str) -> str | None:
    """What a user of Mammatus may do on its database: the hosts' Telegraf and each instance's
    (instance-<name>) write, Kapacitor reads; None for a user that is not Mammatus'."""
    if user.startswith(influx.INSTANCE_PREFIX) and len(user) > len(influx.INSTANCE_PREFIX):
        return "WRITE"
    return PRIVILEGES.get(user)
READY_PATIENCE = 90.0  # seconds for a freshly started influxd to answer /ping


class InfluxError(RuntimeError):
    pass


def query_request(url: str, q: str, auth: Optional[tuple[str, str]] = None) -> dict[str, Any]:
    """POST /query, the statement in the body and the credentials in a Basic header (never in
    a URL a log could keep)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth:
        import base64
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    return {"method": "POST", "url": f"{url.rstrip('/')}/query", "form": {"q": q},
            "headers": headers}


def parse_results(status: int, body: str) -> list[dict[str, Any]]:
    """The `results` of a /query answer; an error of the server or of a statement raises."""
    try:
        doc = json.loads(body or "{}")
    except ValueError:
        raise InfluxError(f"InfluxDB answered {status} with no JSON: {body[:200]!r}") from None
    if status >= 300 or doc.get("error"):
        raise InfluxError(f"InfluxDB answered {status}: {doc.get('error') or body[:200]}")
    results = doc.get("results", [])
    for result in results:
        if result.get("error"):
            raise InfluxError(f"InfluxDB refused a statement: {result['error']}")
    return results


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A result's first series as dicts (SHOW USERS, SHOW RETENTION POLICIES …)."""
    series = (result.get("series") or [{}])[0]
    columns = series.get("columns", [])
    return [dict(zip(columns, values, strict=False)) for values in series.get("values", [])]


def needs_first_admin(err: Exception) -> bool:
    return "create admin user first" in str(err)


def wrong_credentials(err: Exception) -> bool:
    return "authorization failed" in str(err)


def policy_duration(text: str) -> str:
    """InfluxDB's duration ("720h0m0s", "0s" = INF) as the spec writes it ("30d", "INF")."""
    if text in ("0s", "0"):
        return "INF"
    hours = int(text.split("h", 1)[0]) if "h" in text else 0
    if hours % (24 * 7) == 0 and hours:
        return f"{hours // (24 * 7)}w"
    return f"{hours // 24}d" if hours % 24 == 0 and hours else f"{hours}h"


def same_duration(a: str, b: str) -> bool:
    def hours(d: str) -> float:
        if d == "INF":
            return float("inf")
        return int(d[:-1]) * {"h": 1, "d": 24, "w": 168}[d[-1]]
    return hours(a) == hours(b)


def http(request: dict[str, Any], ca_pem: str) -> tuple[int, str]:
    import urllib.parse

    data = urllib.parse.urlencode(request["form"]).encode()
    return https.send(request["method"], request["url"], request["headers"], data, ca_pem)


def wait_ready(url: str, ca_pem: str, patience: float = READY_PATIENCE,
               sleep: Callable[[float], None] = time.sleep) -> None:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else None
    deadline, last = time.monotonic() + patience, None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/ping", context=context, timeout=5):
                return
        except urllib.error.HTTPError:
            return                  # it answers (an error page is an answer)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            if isinstance(err, urllib.error.URLError) and isinstance(
                    err.reason, ssl.SSLCertVerificationError):
                raise
            last = err
        sleep(0.5)
    raise InfluxError(f"InfluxDB at {url} did not answer within {patience:.0f} s: {last}")


def check_setup(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    props = {"url": news.get("url", ""), "ca_pem": news.get("ca_pem") or "",
             "retention": news.get("retention", "30d"),
             "admin_password": news.get("admin_password", ""),
             "passwords": dict(news.get("passwords") or {})}
    failures = []
    if not str(props["url"]).startswith(("http://", "https://")):
        failures.append(CheckFailure("url", f"must be InfluxDB's http(s) URL, got {props['url']!r}"))
    problem = influx.check_duration(str(props["retention"]))
    if problem:
        failures.append(CheckFailure("retention", problem))
    unknown = {u for u in props["passwords"] if privilege_of(u) is None}
    if unknown:
        failures.append(CheckFailure("passwords", f"no such InfluxDB user of Mammatus: {sorted(unknown)}"))
    return props, failures


class InfluxSetupProvider(MammatusProvider):
    immutable = ("url",)
    outputs = ("users",)

    def check(self, _olds, news):
        props, failures = check_setup(news)
        return CheckResult(props, failures)

    def _client(self, props: dict, admin_password: str):
        url, ca = props["url"], props["ca_pem"]

        def run(*statements: str, auth: bool = True) -> list[dict[str, Any]]:
            creds = (influx.ADMIN, admin_password) if auth else None
            return parse_results(*http(query_request(url, ";".join(statements), creds), ca))
        return run

    def _admin(self, props: dict, old_password: str = ""):
        """A query function authenticated as the admin: made now if there is none yet, its
        password set if it changed (authenticated with the old one)."""
        wait_ready(props["url"], props["ca_pem"])
        run = self._client(props, props["admin_password"])
        try:
            run("SHOW USERS")
            return run
        except InfluxError as err:
            if needs_first_admin(err):
                run(f"CREATE USER {influx.ident(influx.ADMIN)} WITH PASSWORD "
                    f"{influx.string(props['admin_password'])} WITH ALL PRIVILEGES", auth=False)
                return run
            if not (wrong_credentials(err) and old_password):
                raise
        self._client(props, old_password)(
            f"SET PASSWORD FOR {influx.ident(influx.ADMIN)} = {influx.string(props['admin_password'])}")
        return run

    def _apply(self, props: dict, old_password: str = "") -> dict:
        run = self._admin(props, old_password)
        users = {r["user"] for r in rows(run("SHOW USERS")[0])}
        policies = rows(run(f"SHOW RETENTION POLICIES ON {influx.ident(influx.DATABASE)}")[0]) \
            if influx.DATABASE in self._databases(run) else []
        exists = any(p["name"] == influx.RETENTION_POLICY for p in policies)
        run(*influx.database_statements(props["retention"], exists))
        for user, password in sorted(props["passwords"].items()):
            run(*influx.user_statements(user, password, privilege_of(user), user in users))
        # An instance that is gone takes its write user with it.
        for user in sorted(users):
            if user.startswith(influx.INSTANCE_PREFIX) and user not in props["passwords"]:
                run(f"DROP USER {influx.ident(user)}")
        return {**props, "users": sorted(props["passwords"])}

    @staticmethod
    def _databases(run) -> set[str]:
        return {r["name"] for r in rows(run("SHOW DATABASES")[0])}

    def create(self, props):
        return CreateResult(id_=f"{props['url']}/{influx.DATABASE}", outs=self._apply(props))

    def update(self, _id, olds, news):
        return UpdateResult(outs=self._apply(news, olds.get("admin_password", "")))

    def read(self, id_, props):
        """What is there now: a dropped database or user, a changed policy, shows as drift."""
        run = self._client(props, props.get("admin_password", ""))
        try:
            if influx.DATABASE not in self._databases(run):
                return ReadResult(None, {})
            policies = rows(run(f"SHOW RETENTION POLICIES ON {influx.ident(influx.DATABASE)}")[0])
            users = {r["user"] for r in rows(run("SHOW USERS")[0])}
        except InfluxError:
            return ReadResult(None, {})
        policy = next((p for p in policies if p["name"] == influx.RETENTION_POLICY), None)
        outs = {**props, "users": sorted(u for u in props.get("passwords", {}) if u in users)}
        if policy is None:
            outs["retention"] = ""
        elif not same_duration(policy_duration(policy["duration"]), props.get("retention", "")):
            outs["retention"] = policy_duration(policy["duration"])
        if outs["users"] != sorted(props.get("passwords", {})):
            outs["passwords"] = {u: props["passwords"][u] for u in outs["users"]}
        return ReadResult(id_, outs, {k: v for k, v in outs.items() if k != "users"})

    def delete(self, _id, _props):
        pass   # the data goes with the daemon's data directory, when the layer goes


class InfluxSetup(pulumi.dynamic.Resource, module="mammatus", name="InfluxSetup"):
    users: pulumi.Output[list]

    def __init__(self, name: str, url: pulumi.Input[str], ca_pem: pulumi.Input[str],
                 retention: str, admin_password: pulumi.Input[str],
                 passwords: pulumi.Input[dict], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(InfluxSetupProvider(), name, {
            "url": url, "ca_pem": ca_pem, "retention": retention,
            "admin_password": admin_password, "passwords": passwords, "users": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                additional_secret_outputs=["admin_password", "passwords"])))
