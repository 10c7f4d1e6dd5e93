"""mammatus:functions:Functions — faasd on the host placed as `functions` (seed design: functions
as a service, on demand, on a schedule, from SNS and from SQS).

faasd itself is installed by `faasd install` (its own systemd units faasd + faasd-provider,
containerd, the gateway on :8080); this layer runs that once, reads the gateway's generated admin
password (a secret) and deploys the spec's functions through the gateway's REST API
(dynamic_providers/faasd.py). Triggers:
- http: the function's URL (always there);
- cron: cron-connector annotations (`topic: cron-function`, `schedule`) on the function;
- sns: an SNS subscription of the function's URL to the topic (needs Notifications first). Like
  AWS, the SNS service sends an http endpoint a SubscriptionConfirmation first: the function
  confirms it (GET its SubscribeURL) before notifications flow;
- sqs: an entry in the SQS pollers' config (/etc/mammatus/functions/sqs-pollers.json: queue URL
  -> function URL), which a poller on the functions host consumes (not written yet). When SQS
  speaks HTTPS (the cloud has a CA) the config names the CA root written beside it
  (`ca_file`), the only root a poller is to verify SQS with.

Needs the SNS API and its topics (for sns triggers) and the SQS API and queues (for sqs
triggers).
Order: Notifications -> Queues -> Functions.
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_command as command

from components.context import CloudContext
from components.contracts import AwsApi, WiringError
from components.host import HostAccess, HostFile
from dynamic_providers.aws_messaging import SnsSubscription, SnsTopic, SqsQueue
from dynamic_providers.faasd import FaasdFunction

GATEWAY_PORT = 8080
PASSWORD_FILE = "/var/lib/faasd/secrets/basic-auth-password"
POLLERS = "/etc/mammatus/functions/sqs-pollers.json"
POLLERS_CA = "/etc/mammatus/functions/sqs-ca-root.pem"


def pollers_config(entries: list[dict], ca_file: Optional[str] = None) -> str:
    config: dict = {"pollers": sorted(entries, key=lambda e: (e["queue"], e["function"]))}
    if ca_file:
        config["ca_file"] = ca_file
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


class Functions(pulumi.ComponentResource):
    gateway: pulumi.Output[str]
    functions: pulumi.Output[dict]
    admin_password: pulumi.Output[str]
    subscriptions: pulumi.Output[list]
    pollers_path: pulumi.Output[Optional[str]]

    def __init__(self, name: str, ctx: CloudContext, sns: Optional[AwsApi] = None,
                 topics: Optional[dict[str, SnsTopic]] = None,
                 queues: Optional[dict[str, SqsQueue]] = None, sqs: Optional[AwsApi] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:functions:Functions", name, None, opts)
        spec = ctx.spec
        access = ctx.placed_for("functions", "Functions")
        child = pulumi.ResourceOptions(parent=self)
        gateway = f"http://{access.host.address}:{GATEWAY_PORT}"

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

        topics, queues = topics or {}, queues or {}
        functions: dict[str, FaasdFunction] = {}
        pollers = []
        subscriptions = []
        for fn in spec.functions:
            schedule = next((t.schedule for t in fn.triggers if t.kind == "cron"), None)
            deployed = FaasdFunction(f"{name}-function-{fn.name}", name=fn.name, image=fn.image,
                                     connection=connection, env=dict(fn.env), schedule=schedule,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[install]))
            functions[fn.name] = deployed
            for trig in fn.triggers:
                if trig.kind == "sns":
                    if trig.topic not in topics or sns is None:
                        raise WiringError(f"mammatus:functions: {fn.name!r} is triggered by topic "
                                         f"{trig.topic!r}: build Notifications with it first")
                    subscriptions.append(SnsSubscription(f"{name}-sub-{trig.topic.replace('.', '-')}-{fn.name}",
                                    topic_arn=topics[trig.topic].arn, protocol="http",
                                    endpoint=deployed.url, connection=sns.connection,
                                    opts=child))
                elif trig.kind == "sqs":
                    if trig.queue not in queues:
                        raise WiringError(f"mammatus:functions: {fn.name!r} is triggered by queue "
                                         f"{trig.queue!r}: build Queues with it first")
                    pollers.append(pulumi.Output.all(queues[trig.queue].url, deployed.url).apply(
                        lambda a, q=trig.queue: {"queue": q, "queue_url": a[0], "function": a[1]}))
        self.pollers_path = pulumi.Output.from_input(None)
        if pollers:
            ca_file, after = self._sqs_root(name, access, sqs)
            self.pollers_path = HostFile(
                f"{name}-sqs-pollers", access, POLLERS,
                pulumi.Output.all(*pollers).apply(lambda es: pollers_config(list(es), ca_file)),
                opts=after).path

        self.gateway = install.id.apply(lambda _: gateway)   # known once faasd is installed
        self.admin_password = password
        self.functions = pulumi.Output.all(**{n: f.url for n, f in functions.items()}) if functions \
            else pulumi.Output.from_input({})
        self.subscriptions = pulumi.Output.all(*[s.arn for s in subscriptions])
        self.register_outputs({"gateway": self.gateway, "functions": self.functions,
                               "admin_password": self.admin_password,
                               "subscriptions": self.subscriptions, "pollers_path": self.pollers_path})

    def _sqs_root(self, name: str, access: HostAccess, sqs: Optional[AwsApi]):
        """(the root pollers verify SQS with, options for the pollers' config): written on this
        host when SQS speaks HTTPS, before the config that names it."""
        child = pulumi.ResourceOptions(parent=self)
        root = sqs.connection.get("ca_pem") if sqs is not None else None
        if root is None:
            return None, child
        root_file = HostFile(f"{name}-sqs-ca-root", access, POLLERS_CA, root, opts=child)
        return POLLERS_CA, pulumi.ResourceOptions(parent=self, depends_on=[root_file])
