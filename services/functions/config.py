"""The connector's configuration file (JSON, or YAML: one file, rendered by
components/render/functions_connector.py), validated with pydantic, and the secrets it names.

Secrets are never inline: the gateway's password and the access key the connector signs its
SQS calls with are files, which must not be readable by group or others (0600), read once
at startup. A config that cannot work stops the service at startup with the key at fault
(`ConfigError`), never at the first message.

    listen: 198.51.100.5:9920          # where SNS posts (the subscriptions' endpoints)
    tls: {cert_file: …, key_file: …}   # optional: HTTPS (a certificate from the cloud's CA)
    ca_file: /etc/…/ca-root.pem        # optional: the root https SNS/SQS and SNS's signing
                                       #   certificate must chain to
    gateway: {url: http://127.0.0.1:8080, username: admin, password_file: …,
              timeout_seconds: 60}
    aws: {credentials_file: …, profile: default, region: us-east-1}   # needed by sqs routes
    sns: {endpoint: https://…:9911, signing_name: sns-control.home.mammatus,
          routes: [{path: /sns/events/on-event, topic_arn: arn:aws:sns:…:events,
                    function: on-event, invoke: sync}]}
    sqs: {routes: [{queue: jobs, queue_url: https://…:9324/000000000000/jobs,
                    function: thumbnail, invoke: sync, wait_seconds: 20, max_messages: 1}]}
    cron: [{function: nightly-report, schedule: "0 3 * * *", timezone: Europe/Berlin,
            invoke: sync}]
"""

from __future__ import annotations

import configparser
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import cron

FUNCTION = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"   # the gateway's function names
HTTP_URL = r"^https?://[^\s/?#]+(/[^\s]*)?$"


class ConfigError(ValueError):
    pass


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


class Tls(Model):
    cert_file: Path
    key_file: Path


class Gateway(Model):
    """The OpenFaaS gateway's invoke API (faasd's gateway on the functions host)."""
    url: str = Field(pattern=HTTP_URL)
    username: str = "admin"
    password_file: Path
    timeout_seconds: float = Field(60, gt=0, le=3600)
    ca_file: Optional[Path] = None   # for an https gateway


class Aws(Model):
    """The access key (aws-cli INI, `profile`) the connector signs SQS calls with (SigV4)."""
    credentials_file: Path
    profile: str = "default"
    region: str = "us-east-1"


Invoke = Literal["sync", "async"]


class SnsRoute(Model):
    path: str = Field(pattern=r"^/[A-Za-z0-9._~/-]+$")
    topic_arn: str = Field(pattern=r"^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$")
    function: str = Field(pattern=FUNCTION)
    invoke: Invoke = "sync"


class Sns(Model):
    # The SNS service's own URL: SigningCertURL and SubscribeURL must be on it (nothing else
    # is fetched: a forged message cannot send the connector elsewhere).
    endpoint: str = Field(pattern=HTTP_URL)
    # The name the signing certificate must carry (with ca_file); None: any from the CA.
    signing_name: Optional[str] = None
    routes: list[SnsRoute] = Field(min_length=1)

    @field_validator("routes")
    @classmethod
    def _unique_paths(cls, routes: list[SnsRoute]) -> list[SnsRoute]:
        paths = [r.path for r in routes]
        twice = sorted({p for p in paths if paths.count(p) > 1})
        if twice:
            raise ValueError(f"path {twice[0]!r} is given twice")
        return routes


class SqsRoute(Model):
    queue: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
    queue_url: str = Field(pattern=HTTP_URL)
    function: str = Field(pattern=FUNCTION)
    invoke: Invoke = "sync"
    wait_seconds: int = Field(20, ge=0, le=20)       # ReceiveMessage's long poll
    max_messages: int = Field(1, ge=1, le=10)


class Sqs(Model):
    routes: list[SqsRoute] = Field(min_length=1)


class Cron(Model):
    function: str = Field(pattern=FUNCTION)
    schedule: str
    timezone: str = "UTC"
    invoke: Invoke = "sync"

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        cron.parse(value, allow_seconds=True)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        cron.zone(value)
        return value

    def job(self) -> cron.CronJob:
        return cron.CronJob(self.function, cron.parse(self.schedule, allow_seconds=True),
                            self.timezone, self.invoke == "async")


class Config(Model):
    listen: str = Field(pattern=r"^(\[[0-9a-fA-F:]+\]|[^\s:\[\]]+):[0-9]{1,5}$")
    tls: Optional[Tls] = None
    ca_file: Optional[Path] = None
    gateway: Gateway
    aws: Optional[Aws] = None
    sns: Optional[Sns] = None
    sqs: Optional[Sqs] = None
    cron: list[Cron] = []

    @field_validator("listen")
    @classmethod
    def _port(cls, value: str) -> str:
        if not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
            raise ValueError("the port must be 1-65535")
        return value

    @model_validator(mode="after")
    def _sqs_signs(self) -> "Config":
        if self.sqs is not None and self.aws is None:
            raise ValueError("sqs routes need aws.credentials_file: SQS calls are signed")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


def _key(loc) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def parse(text: str, source: str = "config") -> Config:
    """The config's text (JSON or YAML) -> Config, or ConfigError naming each bad key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not JSON or YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping of keys (listen, gateway, …)")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            message = ("unknown key" if e["type"] == "extra_forbidden" else
                       "is required" if e["type"] == "missing" else
                       e["msg"].removeprefix("Value error, "))
            problems.append(f"{_key(e['loc'])}: {message}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load(path: str | Path) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config {path}: {exc.strerror}") from None
    return parse(text, str(path))


@dataclass(frozen=True)
class Secrets:
    gateway_password: str
    aws_key: Optional[tuple[str, str]]   # (access key, secret key)


def read_secret_file(path: Path, what: str) -> str:
    """A secret file's text; refused when others may read it (like ssh's private keys)."""
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{what} {path} may be read by others (mode {stat.S_IMODE(mode):04o}): "
                          "it must be 0600")
    return text


def _aws_key(aws: Aws) -> tuple[str, str]:
    text = read_secret_file(aws.credentials_file, "aws.credentials_file")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, str(aws.credentials_file))
    except configparser.Error as exc:
        raise ConfigError(f"aws.credentials_file {aws.credentials_file}: not an INI file "
                          f"({exc.message})") from None
    for section in (aws.profile, f"profile {aws.profile}"):
        if parser.has_section(section):
            key = parser.get(section, "aws_access_key_id", fallback="").strip()
            secret = parser.get(section, "aws_secret_access_key", fallback="").strip()
            if key and secret:
                return key, secret
    raise ConfigError(f"aws.credentials_file {aws.credentials_file}: no profile {aws.profile!r} "
                      "with aws_access_key_id and aws_secret_access_key")


def load_secrets(config: Config) -> Secrets:
    password = read_secret_file(config.gateway.password_file, "gateway.password_file").strip()
    if not password:
        raise ConfigError(f"gateway.password_file {config.gateway.password_file} is empty")
    return Secrets(password, _aws_key(config.aws) if config.aws is not None else None)
