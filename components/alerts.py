"""mammatus:monitoring:Alerts — Kapacitor and the alert relay on the monitoring host (seed:
Monitoring, alerting), built once SNS is there.

Kapacitor (built from its Go module, MIT) runs the spec's rules (components/render/kapacitor.py)
as batch tasks that query InfluxDB as its read-only user; its API listens on loopback only. On
each change of an alert's level it posts to the relay (services/alerts, Basic auth), which
publishes the alert to `monitoring.alertTopic`, so it reaches the topic's SQS and http(s)
subscribers the way CloudWatch alarms reach SNS. Both run as their own users; their secrets
(InfluxDB reader, relay password, the SNS key) are in 0600 files of those users.

Needs: the Monitoring layer's endpoints, the Notifications layer (its API and topics), the CA's
handle when SNS and InfluxDB speak HTTPS.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_random as random

from components.context import CloudContext
from components.contracts import AwsApi, MonitoringEndpoints, WiringError
from components.host import HostFile, HostService, host_dirs, owned_by, service_user
from components.render import kapacitor
from components.runtime import delivered, python_daemon
from components.service_manager import Daemon

K_HOST = kapacitor.KapacitorPaths()
RELAY_USER, KAPACITOR_USER = "mammatus-alerts", "kapacitor"
RELAY_DIR = "/etc/mammatus/alerts"
RELAY_PASSWORD, RELAY_CREDENTIALS, RELAY_CA, RELAY_TOPIC = (
    f"{RELAY_DIR}/password", f"{RELAY_DIR}/credentials", f"{RELAY_DIR}/ca-root.pem",
    f"{RELAY_DIR}/topic-arn")


def credentials_ini(access_key: str, secret_key: str) -> str:
    return f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"


class Alerts(pulumi.ComponentResource):
    alert_rules: pulumi.Output[list]
    alert_topic: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, monitoring: MonitoringEndpoints,
                 sns: AwsApi, topics: pulumi.Input[dict],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:monitoring:Alerts", name, None, opts)
        spec = ctx.spec
        if spec.monitoring.alert_topic is None:
            raise WiringError("the Alerts layer needs mammatus:monitoring.alertTopic")
        access = ctx.placed_for("monitoring", "Alerts")
        child = pulumi.ResourceOptions(parent=self)
        topic_arn = pulumi.Output.from_input(topics).apply(lambda t: t[spec.monitoring.alert_topic])
        relay_password = random.RandomPassword(f"{name}-relay-password", length=32, special=False,
                                               opts=child)

        # The relay: the alerts to SNS.
        relay_user = service_user(f"{name}-relay-user", access, RELAY_USER, self)
        dirs = host_dirs(f"{name}-dirs", access, [RELAY_DIR, f"{K_HOST.load_dir}/tasks",
                                                  K_HOST.config.rsplit("/", 1)[0]], self)
        owned = pulumi.ResourceOptions(parent=self, depends_on=[relay_user, dirs])
        ca_pem = sns.connection.get("ca_pem")
        relay_files = [
            HostFile(f"{name}-relay-password-file", access, RELAY_PASSWORD,
                     pulumi.Output.secret(relay_password.result), mode="0600",
                     owner=owned_by(RELAY_USER), opts=owned),
            HostFile(f"{name}-relay-credentials", access, RELAY_CREDENTIALS, pulumi.Output.secret(
                pulumi.Output.all(sns.connection["access_key"], sns.connection["secret_key"]).apply(
                    lambda k: credentials_ini(k[0], k[1]))), mode="0600",
                owner=owned_by(RELAY_USER), opts=owned),
            HostFile(f"{name}-relay-topic", access, RELAY_TOPIC, topic_arn, opts=owned)]
        if ca_pem is not None:
            relay_files.append(HostFile(f"{name}-relay-ca", access, RELAY_CA, ca_pem, opts=owned))
        relay_url = f"http://127.0.0.1:{kapacitor.RELAY_PORT}/kapacitor"
        args = ["--listen", f"127.0.0.1:{kapacitor.RELAY_PORT}", "--password-file", RELAY_PASSWORD,
                "--sns-endpoint", sns.endpoint, "--topic-arn-file", RELAY_TOPIC,
                "--credentials", RELAY_CREDENTIALS,
                *(["--ca-file", RELAY_CA] if ca_pem is not None else [])]
        daemon, runtime = python_daemon(ctx, access, "alerts", "services.alerts", args,
                                        "Alert relay (Kapacitor to SNS)", user=RELAY_USER)
        relay = HostService(f"{name}-relay", access, daemon, config=[" ".join(args)],
                            depends_on=[*relay_files, *runtime], opts=child)

        # Kapacitor: the rules, posting to the relay.
        kapacitor_user = service_user(f"{name}-kapacitor-user", access, KAPACITOR_USER, self)
        k_owned = pulumi.ResourceOptions(parent=self, depends_on=[kapacitor_user, dirs])
        k_files = []
        if monitoring.ca_pem is not None:
            k_files.append(HostFile(f"{name}-kapacitor-ca", access, K_HOST.ca_file,
                                    monitoring.ca_pem, opts=k_owned))
        conf = pulumi.Output.all(monitoring.reader_password, relay_password.result).apply(
            lambda p: kapacitor.kapacitor_config(
                K_HOST, monitoring.influx_url, p[0], relay_url, p[1], access.host.name,
                ca_file=K_HOST.ca_file if monitoring.ca_pem is not None else None))
        k_files.append(HostFile(f"{name}-kapacitor-config", access, K_HOST.config,
                                pulumi.Output.secret(conf), mode="0600",
                                owner=owned_by(KAPACITOR_USER), opts=k_owned))
        tasks = kapacitor.alert_tasks(K_HOST, spec.monitoring.thresholds,
                                      service_down=spec.monitoring.service_down,
                                      host_down_after=spec.monitoring.host_down_after)
        for on_host, script in tasks.items():
            rule = on_host.rsplit("/", 1)[1].removesuffix(".tick").replace("_", "-")
            k_files.append(HostFile(f"{name}-kapacitor-task-{rule}", access, on_host, script,
                                    opts=k_owned))
        binary = delivered(ctx, access, "kapacitord")
        HostService(f"{name}-kapacitor", access, Daemon(
            name="kapacitor", description="Kapacitor (alert rules)", user=KAPACITOR_USER,
            state_dir=K_HOST.data_dir.removeprefix("/var/lib/"),
            command=[binary.path, "-config", K_HOST.config]),
            config=[binary.sha256, *tasks.values()],
            depends_on=[*k_files, kapacitor_user, monitoring.setup, relay, *binary.deps],
            opts=child)

        self.alert_rules = pulumi.Output.from_input(
            sorted(p.rsplit("/", 1)[1].removesuffix(".tick") for p in tasks))
        self.alert_topic = topic_arn
        self.register_outputs({"alert_rules": self.alert_rules, "alert_topic": self.alert_topic})
