"""Messaging placements (seed design: NATS backs a custom SNS HTTP API; NATS JetStream — which
replaces the deprecated NATS Streaming — backs a custom SQS HTTP API).

- mammatus:messaging:Nats — nats-server with JetStream on the `nats` host
  (components/render/nats.py). It listens on loopback when SNS and SQS run on the same host (the
  lab and home stacks), on the host's address otherwise; either way each service logs in as its
  own user (password generated, in a 0600 file the service alone reads). Provides `server`
  (NatsServer).
- mammatus:messaging:Notifications — `python -m services.sns --listen ADDR:9911 --nats URL
  --credentials FILE --public-url URL [--sqs-endpoint URL --sqs-credentials FILE]
  [--signing-cert FILE --signing-key FILE] [--tls-cert FILE --tls-key FILE --ca-file FILE]` on
  the `sns` host (the signing certificate issued by the cloud's step-ca when there is one), its
  access key generated (secret; SQS accepts it too, for sqs subscriptions), the spec's topics
  (dynamic_providers/aws_messaging.py). Needs the NatsServer (and the CA's handle, optional);
  provides `api` (AwsApi) and `topic_resources` ({name: SnsTopic}).
- mammatus:messaging:Queues — `python -m services.sqs --listen ADDR:9324 --nats URL
  --credentials FILE [--tls-cert FILE --tls-key FILE]` on the `sqs` host, the spec's queues
  (dead-letter queues first) and their subscriptions to SNS topics. Needs the NatsServer and the
  Notifications layer (for subscriptions; optional), and the CA's handle (optional, the same as
  Notifications'); provides `api` (AwsApi) and `queue_resources` ({name: SqsQueue}).

With the CA both serve HTTPS on the LAN (a certificate from step-ca for the host's FQDN and LAN
address, which clients use) and their `connection` carries the root (`ca_pem`), so every client
Pulumi runs verifies them; SNS verifies SQS against the root on its host (`--ca-file`). Without a
CA they speak plain HTTP, readable by any device on the LAN.

Order: Nats -> Notifications -> Queues (-> Functions).
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_random as random

from components.certificates import full_chain, issue_certificate, serving_files
from components.contracts import AwsApi, CaHandle, NatsServer, WiringError
from components.runtime import python_daemon
from components.runtime import delivered
from components.context import CloudContext
from components.host import HostAccess, HostFile, HostService, owned_by, service_user
from components.render import nats
from components.service_manager import Daemon
from components.naming import domain_of, sns_signing_name
from dynamic_providers.aws_messaging import SnsSubscription, SnsTopic, SqsQueue

NATS_CONFIG = "/etc/mammatus/nats/nats.conf"
NATS_STORE = "/var/lib/mammatus/nats"
NATS_USER = "nats"
NATS_CLIENTS = ("sns", "sqs")  # the services that log in to NATS, each as its own user
NATS_PORT = 4222
SNS_PORT = 9911
SQS_PORT = 9324
REGION = "us-east-1"
SIGNING_CERT = "/etc/mammatus/sns/signing.crt"
SIGNING_KEY = "/etc/mammatus/sns/signing.key"
SNS_CA_FILE = "/etc/mammatus/sns/ca-root.pem"   # what SNS verifies SQS and https subscribers with


def credentials_ini(access_key: str, secret_key: str, extra: Optional[dict[str, tuple[str, str]]] = None) -> str:
    """The aws-cli style INI the services read (services/awsapi/credentials.py): [default] is the
    service's own key; `extra` adds more accepted keys ({section: (access key, secret)})."""
    text = f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"
    for section, (key, secret) in sorted((extra or {}).items()):
        text += f"\n[{section}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    return text


def sns_args(address: str, sqs_endpoint: Optional[str], credentials: str, scheme: str = "http",
             ca_file: Optional[str] = None) -> list[str]:
    """services.sns' flags besides the common ones: the URL subscribers see, how it reaches
    SQS for sqs subscriptions (its own [default] key, which the SQS service also accepts) and
    the root it verifies SQS and https subscribers with."""
    args = ["--public-url", f"{scheme}://{address}:{SNS_PORT}"]
    if ca_file:
        args += ["--ca-file", ca_file]
    if sqs_endpoint:
        args += ["--sqs-endpoint", sqs_endpoint, "--sqs-credentials", credentials,
                 "--sqs-profile", "default"]
    return args


def nats_listen_host(ctx: CloudContext) -> str:
    placement = ctx.spec.placement
    users = {p for p in (placement.sns, placement.sqs) if p}
    if users <= {placement.nats}:
        return "127.0.0.1"
    return str(ctx.spec.host(placement.nats).address)


class Nats(pulumi.ComponentResource):
    url: pulumi.Output[str]
    config: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:messaging:Nats", name, None, opts)
        access = ctx.placed("nats")
        if access is None:
            raise WiringError("the messaging layers need mammatus:placement.nats")
        child = pulumi.ResourceOptions(parent=self)
        listen = nats_listen_host(ctx)
        # As NATS' own packages run it: user nats, its JetStream store its own.
        user = service_user(f"{name}-user", access, NATS_USER, self)
        # Every client logs in, on loopback too: a user per service that NATS serves.
        clients = [k for k in NATS_CLIENTS if getattr(ctx.spec.placement, k)]
        passwords = {k: random.RandomPassword(f"{name}-{k}-password", length=32, special=False,
                                              opts=child).result for k in clients}
        text = pulumi.Output.all(**passwords).apply(lambda users: nats.render(
            server_name=f"mammatus-{access.host.name}", listen_host=listen, port=NATS_PORT,
            store_dir=NATS_STORE, users=dict(users)))
        conf = HostFile(f"{name}-config", access, NATS_CONFIG, pulumi.Output.secret(text),
                        mode="0600", owner=owned_by(NATS_USER),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[user]))
        binary = delivered(ctx, access, "nats-server")
        service = HostService(
            f"{name}-nats-server", access,
            Daemon(name="nats", description="NATS with JetStream",
                   command=[binary.path, "-c", NATS_CONFIG], user=NATS_USER,
                   state_dir=NATS_STORE.removeprefix("/var/lib/")),
            config=[binary.sha256], depends_on=[conf, user, *binary.deps], opts=child)
        url = nats.client_url(listen, NATS_PORT)
        self.server = NatsServer(url=url, host=access.host.name, service=service,
                                 passwords={k: pulumi.Output.secret(v) for k, v in passwords.items()})
        self.url = service.unit.apply(lambda _: url)   # known once the server runs
        self.config = pulumi.Output.secret(text)
        self.register_outputs({"url": self.url, "config": self.config})


def credentials_path(kind: str) -> str:
    return f"/etc/mammatus/{kind}/credentials"


def nats_password_path(kind: str) -> str:
    return f"/etc/mammatus/{kind}/nats-password"


def tls_cert_path(kind: str) -> str:
    return f"/etc/mammatus/{kind}/tls.crt"


def tls_key_path(kind: str) -> str:
    return f"/etc/mammatus/{kind}/tls.key"


def scheme(ca: Optional[CaHandle]) -> str:
    """How SNS and SQS are reached: HTTPS exactly when the cloud has a CA."""
    return "https" if ca is not None else "http"


def _serving_identity(component: pulumi.ComponentResource, name: str, ctx: CloudContext,
                      ca: Optional[CaHandle], access: HostAccess, kind: str,
                      user: pulumi.Resource) -> tuple[list[str], list[HostFile]]:
    """With the cloud's CA: services.<kind>'s HTTPS flags and files. Without: plain HTTP."""
    if ca is None:
        return [], []
    files = serving_files(ca, f"{name}-{kind}-tls", access, domain_of(ctx.spec),
                          tls_cert_path(kind), tls_key_path(kind), f"mammatus-{kind}", user,
                          component)
    return ["--tls-cert", tls_cert_path(kind), "--tls-key", tls_key_path(kind)], files


def _aws_service(component: pulumi.ComponentResource, name: str, ctx: CloudContext,
                 access: HostAccess, nats_server: NatsServer, kind: str, port: int,
                 extra_keys: Optional[dict] = None, extra_args: Sequence[str] = (),
                 extra_files: Sequence[pulumi.Resource] = (),
                 made: Optional[pulumi.Resource] = None, ca: Optional[CaHandle] = None):
    """Credentials file + HostService of services.sns / services.sqs (HTTPS with the CA);
    returns (connection, endpoint, service). `extra_keys` ({section: {access_key, secret_key}})
    are accepted too; `extra_args` are the service's own flags."""
    child = pulumi.ResourceOptions(parent=component)
    # Each service as a user of its own, which alone reads its keys.
    user = f"mammatus-{kind}"
    made = made or service_user(f"{name}-{kind}-user", access, user, component)
    owned = pulumi.ResourceOptions(parent=component, depends_on=[made])
    access_key = f"mammatus-{kind}"
    secret = random.RandomPassword(f"{name}-{kind}-secret-key", length=40, special=False, opts=child)
    cred_path = credentials_path(kind)
    extra_keys = extra_keys or {}
    sections = list(extra_keys)
    text = pulumi.Output.all(secret.result, *[extra_keys[k]["secret_key"] for k in sections]).apply(
        lambda secrets: credentials_ini(access_key, secrets[0], {
            k: (extra_keys[k]["access_key"], v) for k, v in zip(sections, secrets[1:], strict=True)}))
    creds = HostFile(f"{name}-{kind}-credentials", access, cred_path,
                     pulumi.Output.secret(text), mode="0600", owner=owned_by(user), opts=owned)
    nats_password = HostFile(f"{name}-{kind}-nats-password", access, nats_password_path(kind),
                             nats_server.passwords[kind], mode="0600", owner=owned_by(user),
                             opts=owned)
    tls_args, tls_files = _serving_identity(component, name, ctx, ca, access, kind, made)
    address = str(access.host.address)
    args = ["--listen", f"{address}:{port}", "--nats", nats_server.url,
            "--nats-user", kind, "--nats-password-file", nats_password_path(kind),
            "--credentials", cred_path, "--region", REGION, *tls_args, *extra_args]
    daemon, runtime = python_daemon(ctx, access, kind, f"services.{kind}", args,
                                    f"{kind.upper()} API (Mammatus, on NATS)", user=user)
    service = HostService(f"{name}-{kind}", access, daemon, config=[" ".join(args)],
                          depends_on=[creds, nats_password, nats_server.service, *tls_files,
                                      *extra_files, *runtime],
                          opts=child)
    endpoint = f"{scheme(ca)}://{address}:{port}"
    connection = {"endpoint": endpoint, "region": REGION, "access_key": access_key,
                  "secret_key": pulumi.Output.secret(secret.result)}
    if ca is not None:
        connection["ca_pem"] = ca.root_pem   # what every client verifies the endpoint with
    return connection, endpoint, service


class Notifications(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    topics: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, nats_server: NatsServer,
                 ca: Optional[CaHandle] = None, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:messaging:Notifications", name, None, opts)
        access = ctx.placed_for("sns", "Notifications")
        sqs_host = ctx.spec.placement.sqs
        # The Queues layer has the same CA (components/cloud.py; Queues checks): SQS speaks
        # HTTPS exactly when this service does.
        sqs_endpoint = (f"{scheme(ca)}://{ctx.spec.host(sqs_host).address}:{SQS_PORT}"
                        if sqs_host else None)
        user = service_user(f"{name}-sns-user", access, "mammatus-sns", self)
        signing_args, signing_files = self._signing_identity(name, ctx, ca, access, user)
        root_files = [HostFile(f"{name}-sns-ca-file", access, SNS_CA_FILE, ca.root_pem,
                               opts=pulumi.ResourceOptions(parent=self))] if ca is not None else []
        connection, endpoint, service = _aws_service(
            self, name, ctx, access, nats_server, "sns", SNS_PORT,
            extra_args=[*sns_args(str(access.host.address), sqs_endpoint, credentials_path("sns"),
                                  scheme(ca), SNS_CA_FILE if ca is not None else None),
                        *signing_args],
            extra_files=[*signing_files, *root_files], made=user, ca=ca)
        after = pulumi.ResourceOptions(parent=self, depends_on=[service])
        topics = {t.name: SnsTopic(f"{name}-topic-{t.name.replace('.', '-')}", name=t.name,
                                   connection=connection, opts=after)
                  for t in ctx.spec.topics}
        self.api = AwsApi(endpoint=endpoint, connection=connection)
        self.ca = ca
        self.topic_resources: dict[str, SnsTopic] = topics
        self.endpoint = service.unit.apply(lambda _: endpoint)
        self.topics = pulumi.Output.all(**{n: t.arn for n, t in topics.items()}) if topics \
            else pulumi.Output.from_input({})
        self.register_outputs({"endpoint": self.endpoint, "topics": self.topics})

    def _signing_identity(self, name: str, ctx: CloudContext, ca: Optional[CaHandle],
                          access: HostAccess, user: pulumi.Resource):
        """With the cloud's CA: an RSA key and a certificate from step-ca for message signatures
        (SNS signs with RSA), so subscribers can verify them against the CA's root. Without a
        CA the service signs with a throwaway self-signed certificate (it says so in its log)."""
        if ca is None:
            return [], []
        key, cert = issue_certificate(ca, f"{name}-signing", sns_signing_name(ctx.spec),
                                      parent=self, algorithm="RSA")
        child = pulumi.ResourceOptions(parent=self)
        # Leaf then intermediate: the service publishes the file at SigningCertURL, so a
        # subscriber holding only the root can build the chain.
        cert_file = HostFile(f"{name}-signing-cert-file", access, SIGNING_CERT, full_chain(cert),
                             opts=child)
        key_file = HostFile(f"{name}-signing-key-file", access, SIGNING_KEY,
                            pulumi.Output.secret(key.private_key_pem), mode="0600",
                            owner=owned_by("mammatus-sns"),
                            opts=pulumi.ResourceOptions(parent=self, depends_on=[user]))
        return (["--signing-cert", SIGNING_CERT, "--signing-key", SIGNING_KEY],
                [cert_file, key_file])


def queue_order(queues) -> list:
    """Dead-letter queues before the queues that name them (a queue's RedrivePolicy needs its
    DLQ to exist)."""
    by_name = {q.name: q for q in queues}
    ordered, seen = [], set()

    def visit(q, path=()):
        if q.name in seen:
            return
        if q.name in path:
            raise WiringError(f"mammatus:queues: dead-letter cycle through {q.name!r}")
        dlq = by_name.get(q.dead_letter_queue) if q.dead_letter_queue else None
        if dlq is not None:
            visit(dlq, path + (q.name,))
        seen.add(q.name)
        ordered.append(q)

    for q in queues:
        visit(q)
    return ordered


class Queues(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    queues: pulumi.Output[dict]
    subscriptions: pulumi.Output[list]

    def __init__(self, name: str, ctx: CloudContext, nats_server: NatsServer,
                 notifications: Optional[Notifications] = None, ca: Optional[CaHandle] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:messaging:Queues", name, None, opts)
        access = ctx.placed_for("sqs", "Queues")
        if notifications is not None and (notifications.ca is None) != (ca is None):
            raise WiringError("Notifications and Queues need the same CA: SNS reaches SQS over "
                              "HTTPS exactly when it has one")
        sns = notifications.api if notifications is not None else None
        # SNS delivers to sqs subscriptions with its own key: the SQS service accepts it too.
        extra = {"sns": {"access_key": sns.connection["access_key"],
                         "secret_key": sns.connection["secret_key"]}} if sns else {}
        connection, endpoint, service = _aws_service(self, name, ctx, access, nats_server, "sqs",
                                                     SQS_PORT, extra_keys=extra, ca=ca)
        queues: dict[str, SqsQueue] = {}
        for q in queue_order(ctx.spec.queues):
            deps = [service] + ([queues[q.dead_letter_queue]] if q.dead_letter_queue in queues else [])
            queues[q.name] = SqsQueue(
                f"{name}-queue-{q.name.replace('.', '-')}", name=q.name, connection=connection,
                visibility_timeout=q.visibility_timeout, retention_seconds=q.retention_seconds,
                dead_letter_queue=q.dead_letter_queue, max_receive_count=q.max_receive_count,
                opts=pulumi.ResourceOptions(parent=self, depends_on=deps))
        topics = notifications.topic_resources if notifications is not None else {}
        subscriptions = []
        for q in ctx.spec.queues:
            for topic in q.subscribe_to:
                if topic not in topics or sns is None:
                    raise WiringError(f"mammatus:queues: {q.name!r} subscribes to {topic!r}: build "
                                     "Notifications (with that topic) before Queues")
                subscriptions.append(SnsSubscription(f"{name}-sub-{topic.replace('.', '-')}-{q.name.replace('.', '-')}",
                                topic_arn=topics[topic].arn, protocol="sqs",
                                endpoint=queues[q.name].arn, connection=sns.connection,
                                raw_message_delivery=True,
                                opts=pulumi.ResourceOptions(parent=self)))
        self.api = AwsApi(endpoint=endpoint, connection=connection)
        self.queue_resources: dict[str, SqsQueue] = queues
        self.endpoint = service.unit.apply(lambda _: endpoint)
        self.queues = pulumi.Output.all(**{n: q.url for n, q in queues.items()}) if queues \
            else pulumi.Output.from_input({})
        self.subscriptions = pulumi.Output.all(*[s.arn for s in subscriptions])
        self.register_outputs({"endpoint": self.endpoint, "queues": self.queues,
                               "subscriptions": self.subscriptions})
