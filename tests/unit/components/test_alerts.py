import tomllib

import pulumi
import pytest

from components.alerts import Alerts
from components.contracts import WiringError
from tests.support.netlab import context, registered, stack_spec


@pytest.fixture(scope="module")
def dev():
    from components.ca import CertificateAuthority
    from components.messaging import Nats, Notifications
    from components.monitoring import Monitoring

    ctx = context(stack_spec("dev"))

    def build():
        ca = CertificateAuthority("al-ca", ctx)
        mon = Monitoring("al-mon", ctx, ca=ca.handle)
        nats = Nats("al-nats", ctx)
        sns = Notifications("al-sns", ctx, nats_server=nats.server, ca=ca.handle)
        return Alerts("al", ctx, monitoring=mon.endpoints, sns=sns.api, topics=sns.topics)
    mocks, alerts = registered(build)
    return mocks, alerts, ctx


def test_kapacitor_reads_as_the_reader_and_posts_to_the_relay(dev):
    mocks, _, _ = dev
    write = mocks.inputs("al-kapacitor-config-write")
    assert write["mode"] == "0600" and write["owner"] == "kapacitor:kapacitor"
    config = tomllib.loads(write["content"])
    assert config["influxdb"][0]["username"] == "kapacitor" and config["influxdb"][0]["password"]
    assert config["influxdb"][0]["urls"] == ["https://198.51.100.2:8086"]
    assert config["httppost"][0]["url"] == "http://127.0.0.1:9094/kapacitor"
    unit = mocks.inputs("al-kapacitor-run")["create"]
    assert "User=kapacitor" in unit and "/opt/mammatus/bin/kapacitord -config" in unit


def test_the_relay_publishes_to_the_alert_topic_with_its_secrets_in_its_own_files(dev):
    mocks, _, _ = dev
    unit = mocks.inputs("al-relay-run")["create"]
    assert "-m services.alerts" in unit and "User=mammatus-alerts" in unit
    assert "--sns-endpoint https://198.51.100.2:9911" in unit and "--ca-file" in unit
    for suffix in ("relay-password-file", "relay-credentials"):
        write = mocks.inputs(f"al-{suffix}-write")
        assert write["mode"] == "0600" and write["owner"] == "mammatus-alerts:mammatus-alerts"
    # The topic's ARN (known once SNS made it) is a file the relay reads.
    assert "--topic-arn-file /etc/mammatus/alerts/topic-arn" in unit
    assert mocks.inputs("al-relay-topic-write")["path"] == "/etc/mammatus/alerts/topic-arn"


def test_one_task_per_rule(dev):
    mocks, alerts, _ = dev
    tasks = {r.name for r in mocks.resources if r.name.startswith("al-kapacitor-task-")
             and r.name.endswith("-write")}
    assert tasks == {f"al-kapacitor-task-{n}-write" for n in
                     ("cpu-busy", "disk-full", "memory-full", "service-down", "host-down")}


def test_without_an_alert_topic_it_is_a_wiring_error():
    ctx = context(stack_spec("home"))
    with pytest.raises(WiringError, match="monitoring.alertTopic"):
        Alerts("x", ctx, monitoring=None, sns=None, topics=pulumi.Output.from_input({}))
