import json

import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.context import CloudContext  # noqa: E402
from components.functions import Functions  # noqa: E402
from components.messaging import Nats, Notifications, Queues  # noqa: E402
from services.functions.config import parse  # noqa: E402
from stacks.spec import StackSpec  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402

CONNECTOR = "/etc/mammatus/functions/connector.json"


def home_with_more_triggers() -> StackSpec:
    base = stack_spec("home").model_dump(by_alias=True)
    base["functions"].append({"name": "on-event", "image": "registry.mammatus/ev:1",
                              "triggers": [{"kind": "sns", "topic": "events"},
                                           {"kind": "cron", "schedule": "*/5 * * * *",
                                            "timezone": "Europe/Berlin"},
                                           {"kind": "cron", "schedule": "@daily"}]})
    return StackSpec.model_validate(base)


@pytest.fixture(scope="module")
def functions():
    ctx = CloudContext(home_with_more_triggers(), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    nats = Nats("fn-nats", ctx)
    sns = Notifications("fn-sns", ctx, nats_server=nats.server)
    sqs = Queues("fn-sqs", ctx, nats_server=nats.server, notifications=sns)
    return Functions("fn", ctx, sns=sns.api, topics=sns.topic_resources,
                     queues=sqs.queue_resources, sqs=sqs.api), ctx


def connector_config(resource: str):
    """The rendered config, parsed by the connector. Under mocks a topic's ARN and a queue's
    URL (the providers' outputs) are unknown: they are filled in as SNS and SQS make them."""
    raw = json.loads(MOCKS.inputs(resource)["content"])
    for route in (raw.get("sns") or {}).get("routes", []):
        route["topic_arn"] = route["topic_arn"] or \
            f"arn:aws:sns:us-east-1:000000000000:{route['path'].split('/')[2]}"
    for route in (raw.get("sqs") or {}).get("routes", []):
        route["queue_url"] = route["queue_url"] or f"https://10.0.0.2:9324/000000000000/{route['queue']}"
    return parse(json.dumps(raw))


def settled(f):
    return pulumi.Output.all(f.urn, f.gateway, f.functions, pulumi.Output.is_secret(f.admin_password),
                             f.subscriptions, f.connector_config, f.connector_url)


@pulumi.runtime.test
def test_faasd_install_and_functions_without_cron_connector_annotations(functions):
    comp, _ = functions

    def check(args):
        urn, gateway, fns, secret = args[:4]
        assert urn.endswith("mammatus:functions:Functions::fn")
        assert gateway == "http://10.0.0.2:8080" and secret
        assert "faasd install" in MOCKS.inputs("fn-faasd-install")["create"]
        assert MOCKS.inputs("fn-faasd-password")["create"] == "cat /var/lib/faasd/secrets/basic-auth-password"
        nightly = MOCKS.inputs("fn-function-nightly-report")
        assert MOCKS.named("fn-function-nightly-report").typ == "pulumi-python:dynamic/mammatus:FaasdFunction"
        assert nightly["image"] == "registry.mammatus/report:1"
        # Cron is the connector's: nothing for OpenFaaS' cron-connector to invoke twice.
        assert not nightly.get("schedule") and "topic" not in (nightly.get("annotations") or {})
        assert nightly["connection"]["gateway"] == "http://10.0.0.2:8080"
        assert set(fns) == {"thumbnail", "nightly-report", "on-event"}
    return settled(comp).apply(check)


@pulumi.runtime.test
def test_the_connector_config_holds_every_trigger(functions):
    comp, _ = functions

    def check(args):
        assert args[5] == CONNECTOR and args[6] == "http://10.0.0.2:9920"
        config = connector_config("fn-connector-config-write")
        assert config.listen == "10.0.0.2:9920" and config.gateway.url == "http://127.0.0.1:8080"
        assert [(r.path, r.function) for r in config.sns.routes] == [("/sns/events/on-event", "on-event")]
        assert config.sns.endpoint == "http://10.0.0.2:9911"
        assert [(q.queue, q.function) for q in config.sqs.routes] == [("jobs", "thumbnail")]
        # Every cron trigger (not only each function's first), each in its time zone.
        assert [(c.function, c.schedule, c.timezone) for c in config.cron] == [
            ("nightly-report", "0 3 * * *", "UTC"), ("on-event", "*/5 * * * *", "Europe/Berlin"),
            ("on-event", "@daily", "UTC")]
        assert config.ca_file is None and config.tls is None
    return settled(comp).apply(check)


@pulumi.runtime.test
def test_the_connector_runs_as_its_own_user_with_its_secrets_in_0600_files(functions):
    comp, _ = functions

    def check(_):
        unit = MOCKS.inputs("fn-connector-run")["create"]
        assert "-m services.functions --config /etc/mammatus/functions/connector.json" in unit
        assert "User=mammatus-functions" in unit
        for name, path in (("fn-gateway-password-write", "/etc/mammatus/functions/gateway-password"),
                           ("fn-connector-credentials-write", "/etc/mammatus/functions/credentials")):
            write = MOCKS.inputs(name)
            assert write["path"] == path and write["mode"] == "0600"
            assert write["owner"] == "mammatus-functions:mammatus-functions"
        creds = MOCKS.inputs("fn-connector-credentials-write")["content"]
        assert "aws_access_key_id = mammatus-sqs" in creds   # the key SQS accepts
        # The password is never on a command line.
        assert "basic-auth-password" not in unit
    return settled(comp).apply(check)


@pulumi.runtime.test
def test_sns_subscriptions_point_at_the_connectors_route(functions):
    comp, _ = functions

    def check(args):
        assert len(args[4]) == 1
        sub = MOCKS.inputs("fn-sub-events-on-event")
        assert sub["protocol"] == "http"
        assert sub["endpoint"] == "http://10.0.0.2:9920/sns/events/on-event"
    return settled(comp).apply(check)


def test_an_sqs_trigger_on_an_unknown_queue_is_a_clear_error():
    ctx = CloudContext(stack_spec("home"), "KEY", "ssh-ed25519 AAAA")
    with pytest.raises(ValueError, match="queue 'jobs'"):
        Functions("fn-bad", ctx)


@pytest.fixture(scope="module")
def tls_functions():
    from components.ca import CertificateAuthority
    ctx = CloudContext(home_with_more_triggers(), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    ca = CertificateAuthority("tfn-ca", ctx)
    nats = Nats("tfn-nats", ctx)
    sns = Notifications("tfn-sns", ctx, nats_server=nats.server, ca=ca.handle)
    sqs = Queues("tfn-sqs", ctx, nats_server=nats.server, notifications=sns, ca=ca.handle)
    return Functions("tfn", ctx, sns=sns.api, topics=sns.topic_resources,
                     queues=sqs.queue_resources, sqs=sqs.api, ca=ca.handle)


@pulumi.runtime.test
def test_with_a_ca_the_connector_serves_https_and_verifies_against_the_root(tls_functions):
    from tests.support.pki import mock_pki

    def check(args):
        root = MOCKS.inputs("tfn-ca-root-write")
        assert root["path"] == "/etc/mammatus/functions/ca-root.pem"
        assert root["content"] == mock_pki().root_pem
        config = connector_config("tfn-connector-config-write")
        assert str(config.ca_file) == "/etc/mammatus/functions/ca-root.pem"
        assert str(config.tls.cert_file) == "/etc/mammatus/functions/tls.crt"
        assert config.sns.endpoint == "https://10.0.0.2:9911"
        assert config.sns.signing_name == "sns-control.mammatus"   # the home stack's domain
        key = MOCKS.inputs("tfn-connector-tls-key-file-write")
        assert key["mode"] == "0600" and key["owner"] == "mammatus-functions:mammatus-functions"
        sub = MOCKS.inputs("tfn-sub-events-on-event")
        assert sub["protocol"] == "https"
        assert sub["endpoint"] == "https://10.0.0.2:9920/sns/events/on-event"
        assert args[6] == "https://10.0.0.2:9920"
    return settled(tls_functions).apply(check)


@pulumi.runtime.test
def test_without_a_ca_the_connector_has_no_root(functions):
    comp, _ = functions

    def check(_):
        assert "ca_file" not in json.loads(MOCKS.inputs("fn-connector-config-write")["content"])
        assert not any(r.name == "fn-ca-root" for r in MOCKS.resources)
    return settled(comp).apply(check)
