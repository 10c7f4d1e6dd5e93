"""mammatus:functions:Functions — faasd and the functions connector on the host placed as
`functions` (seed design: functions as a service, on demand, on a schedule, from SNS and from
SQS).

faasd itself is installed by `faasd install` (its own systemd units faasd + faasd-provider,
containerd, the gateway on :8080); this layer runs that once, reads the gateway's generated admin
password (a secret) and deploys the spec's functions through the gateway's REST API
(dynamic_providers/faasd.py). faasd cannot run on this machine (no registry serves it or its
images), so that part is contract-tested against a stand-in of the gateway's API.

Triggers, all real: one Mammatus service, the functions connector (`python -m
services.functions --config FILE`, services/functions), runs beside the gateway as its own
user and invokes functions on the gateway's invoke API (/function/<name>, or
/async-function/<name> with `invoke: async`), basic auth as admin with the password in a 0600
file of its own. Its config (components/render/functions_connector.py) holds:
- http: nothing (the function's URL is always there);
- sns: a route per (topic, function); the SNS subscription's endpoint is that route on the
  connector (`http(s)://<functions host>:9920/sns/<topic>/<function>`), which verifies SNS's
  signatures and confirms its own subscription, so a function knows nothing of SNS;
- sqs: a long-polling loop per queue, signing its SQS calls with the Queues layer's key (a 0600
  credentials file); a message is deleted once the function answered 2xx, and otherwise ends in
  the queue's dead-letter queue after its maxReceiveCount;
- cron: every cron trigger of every function, in the trigger's `timezone`.
With the cloud's CA the connector serves HTTPS (a certificate from step-ca, which SNS verifies)
and verifies SNS, SQS and SNS's signing certificate against the root written beside its config.

Needs the SNS API and its topics (for sns triggers), the SQS API and queues (for sqs triggers)
and the CA's handle (optional). The connector starts once the functions are deployed (a
message that arrived earlier would only fail towards the DLQ), the subscriptions once the
connector runs (SNS sends it the confirmation at once).
Order: Notifications -> Queues -> Functions.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_command as command

from components.certificates import serving_files
from components.context import CloudContext
from components.contracts import AwsApi, CaHandle, WiringError
from components.host import HostFile, HostService, owned_by, service_user
from components.naming import domain_of, sns_signing_name
from components.render import functions_connector as connector
from components.runtime import python_daemon
from dynamic_providers.aws_messaging import SnsSubscription, SnsTopic, SqsQueue
from dynamic_providers.faasd import FaasdFunction

GATEWAY_PORT = 8080
PASSWORD_FILE = "/var/lib/faasd/secrets/basic-auth-password"
CONNECTOR_PORT = connector.PORT
CONNECTOR_USER = "mammatus-functions"
FILES = connector.FILES


def credentials_ini(access_key: str, secret_key: str) -> str:
    return f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"


class Functions(pulumi.ComponentResource):
    gateway: pulumi.Output[str]
    functions: pulumi.Output[dict]
    admin_password: pulumi.Output[str]
    subscriptions: pulumi.Output[list]
    connector_url: pulumi.Output[str]
    connector_config: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, sns: Optional[AwsApi] = None,
                 topics: Optional[dict[str, SnsTopic]] = None,
                 queues: Optional[dict[str, SqsQueue]] = None, sqs: Optional[AwsApi] = None,
                 ca: Optional[CaHandle] = None, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:functions:Functions", name, None, opts)
        spec = ctx.spec
        access = ctx.placed_for("functions", "Functions")
        child = pulumi.ResourceOptions(parent=self)
        gateway = f"http://{access.host.address}:{GATEWAY_PORT}"
        topics, queues = topics or {}, queues or {}
        sns_triggers = connector.sns_triggers(spec.functions)
        sqs_triggers = connector.sqs_triggers(spec.functions)
        for topic, fn in sns_triggers:
            if topic not in topics or sns is None:
                raise WiringError(f"mammatus:functions: {fn!r} is triggered by topic "
                                  f"{topic!r}: build Notifications with it first")
        for queue, fn in sqs_triggers:
            if queue not in queues or sqs is None:
                raise WiringError(f"mammatus:functions: {fn!r} is triggered by queue "
                                  f"{queue!r}: build Queues with it first")

        install = command.remote.Command(
            f"{name}-faasd-install", connection=access.connection(),
            create=f"test -s {PASSWORD_FILE} || faasd install", opts=child)
        read_password = command.remote.Command(
            f"{name}-faasd-password", connection=access.connection(),
            create=f"cat {PASSWORD_FILE}", logging="none",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[install],
                                        additional_secret_outputs=["stdout"]))
        password = pulumi.Output.secret(read_password.stdout.apply(lambda s: (s or "").strip()))
        connection = {"gateway": gateway, "username": "admin", "password": password}

        # Cron is the connector's: no cron-connector annotations on the functions (one that
        # someone runs beside it would invoke them twice).
        functions = {fn.name: FaasdFunction(
            f"{name}-function-{fn.name}", name=fn.name, image=fn.image, connection=connection,
            env=dict(fn.env), opts=pulumi.ResourceOptions(parent=self, depends_on=[install]))
            for fn in spec.functions}

        scheme = "https" if ca is not None else "http"
        url = f"{scheme}://{access.host.address}:{CONNECTOR_PORT}"
        service, config_file = self._connector(name, ctx, access, password, sns, sqs, ca,
                                               topics, queues,
                                               after=[install, *functions.values()])
        subscriptions = [SnsSubscription(
            f"{name}-sub-{topic.replace('.', '-')}-{fn}", topic_arn=topics[topic].arn,
            protocol=scheme,
            endpoint=url + connector.sns_path(topic, fn),
            connection=sns.connection,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service]))
            for topic, fn in sns_triggers]

        self.gateway = install.id.apply(lambda _: gateway)   # known once faasd is installed
        self.admin_password = password
        self.functions = pulumi.Output.all(**{n: f.url for n, f in functions.items()}) if functions \
            else pulumi.Output.from_input({})
        self.subscriptions = pulumi.Output.all(*[s.arn for s in subscriptions])
        self.connector_url = service.unit.apply(lambda _: url)   # known once it runs
        self.connector_config = config_file.path
        self.register_outputs({"gateway": self.gateway, "functions": self.functions,
                               "admin_password": self.admin_password,
                               "subscriptions": self.subscriptions,
                               "connector_url": self.connector_url,
                               "connector_config": self.connector_config})

    def _connector(self, name: str, ctx: CloudContext, access, password: pulumi.Output,
                   sns: Optional[AwsApi], sqs: Optional[AwsApi], ca: Optional[CaHandle],
                   topics: dict[str, SnsTopic], queues: dict[str, SqsQueue], after: list):
        """The connector's user, secrets, config and service; (service, config file)."""
        spec = ctx.spec
        child = pulumi.ResourceOptions(parent=self)
        user = service_user(f"{name}-connector-user", access, CONNECTOR_USER, self)
        owned = pulumi.ResourceOptions(parent=self, depends_on=[user])
        files = [HostFile(f"{name}-gateway-password", access, FILES.gateway_password, password,
                          mode="0600", secret=True, owner=owned_by(CONNECTOR_USER), opts=owned)]
        if connector.sqs_triggers(spec.functions):
            key = pulumi.Output.all(sqs.connection["access_key"], sqs.connection["secret_key"])
            files.append(HostFile(f"{name}-connector-credentials", access, FILES.credentials,
                                  pulumi.Output.secret(key.apply(lambda k: credentials_ini(*k))),
                                  mode="0600", secret=True, owner=owned_by(CONNECTOR_USER),
                                  opts=owned))
        root = ca.root_pem if ca is not None else next(
            (api.connection["ca_pem"] for api in (sns, sqs)
             if api is not None and api.connection.get("ca_pem") is not None), None)
        if root is not None:
            files.append(HostFile(f"{name}-ca-root", access, FILES.ca_root, root, opts=child))
        if ca is not None:
            files += serving_files(ca, f"{name}-connector-tls", access, domain_of(spec),
                                   FILES.tls_cert, FILES.tls_key, CONNECTOR_USER, user, self)

        signed_by = sns_signing_name(spec) if sns is not None and sns.connection.get("ca_pem") \
            is not None else None
        used_topics = sorted({t for t, _ in connector.sns_triggers(spec.functions)})
        used_queues = sorted({q for q, _ in connector.sqs_triggers(spec.functions)})

        def render(values: list) -> str:
            arns = dict(zip(used_topics, values[:len(used_topics)], strict=True))
            urls = dict(zip(used_queues, values[len(used_topics):], strict=True))
            return connector.render_config(
                spec.functions, listen=f"{access.host.address}:{CONNECTOR_PORT}",
                gateway_url=f"http://127.0.0.1:{GATEWAY_PORT}", topic_arns=arns,
                queue_urls=urls, sns_endpoint=sns.endpoint if sns is not None else None,
                signing_name=signed_by, ca_file=FILES.ca_root if root is not None else None,
                tls=ca is not None)
        resolved = [topics[t].arn for t in used_topics] + [queues[q].url for q in used_queues]
        text = pulumi.Output.all(*resolved).apply(render) if resolved else \
            pulumi.Output.from_input(render([]))
        config_file = HostFile(f"{name}-connector-config", access, FILES.config, text, opts=child)
        args = ["--config", FILES.config]
        daemon, runtime = python_daemon(ctx, access, "functions", "services.functions", args,
                                        "Functions connector (SNS, SQS, cron to OpenFaaS)",
                                        user=CONNECTOR_USER)
        service = HostService(f"{name}-connector", access, daemon, config=[" ".join(args)],
                              depends_on=[config_file, *files, user, *after, *runtime],
                              opts=child)
        return service, config_file
