import json

import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.context import CloudContext  # noqa: E402
from components.functions import Functions  # noqa: E402
from components.messaging import Nats, Notifications, Queues  # noqa: E402
from stacks.spec import StackSpec  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402


@pytest.fixture(scope="module")
def functions():
    base = stack_spec("home").model_dump(by_alias=True)
    base["functions"].append({"name": "on-event", "image": "registry.mammatus/ev:1",
                              "triggers": [{"kind": "sns", "topic": "events"}]})
    ctx = CloudContext(StackSpec.model_validate(base), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    nats = Nats("fn-nats", ctx)
    sns = Notifications("fn-sns", ctx, nats_server=nats.server)
    sqs = Queues("fn-sqs", ctx, nats_server=nats.server, notifications=sns)
    return Functions("fn", ctx, sns=sns.api, topics=sns.topic_resources,
                     queues=sqs.queue_resources), ctx


def settled(f):
    return pulumi.Output.all(f.urn, f.gateway, f.functions, pulumi.Output.is_secret(f.admin_password),
                             f.subscriptions, f.pollers_path)


@pulumi.runtime.test
def test_faasd_install_and_functions_with_triggers(functions):
    comp, _ = functions

    def check(args):
        urn, gateway, fns, secret = args[:4]
        assert args[5] == "/etc/mammatus/functions/sqs-pollers.json" and len(args[4]) == 1
        assert urn.endswith("mammatus:functions:Functions::fn")
        assert gateway == "http://10.0.0.2:8080" and secret
        assert "faasd install" in MOCKS.inputs("fn-faasd-install")["create"]
        assert MOCKS.inputs("fn-faasd-password")["create"] == "cat /var/lib/faasd/secrets/basic-auth-password"
        nightly = MOCKS.inputs("fn-function-nightly-report")
        assert MOCKS.named("fn-function-nightly-report").typ == "pulumi-python:dynamic/mammatus:FaasdFunction"
        assert nightly["schedule"] == "0 3 * * *" and nightly["image"] == "registry.mammatus/report:1"
        assert nightly["connection"]["gateway"] == "http://10.0.0.2:8080"
        sub = MOCKS.inputs("fn-sub-events-on-event")
        assert sub["protocol"] == "http"
        assert set(fns) == {"thumbnail", "nightly-report", "on-event"}
        pollers = json.loads(MOCKS.inputs("fn-sqs-pollers-write")["content"])["pollers"]
        assert [p["queue"] for p in pollers] == ["jobs"]
    return settled(comp).apply(check)


def test_an_sqs_trigger_on_an_unknown_queue_is_a_clear_error():
    ctx = CloudContext(stack_spec("home"), "KEY", "ssh-ed25519 AAAA")
    with pytest.raises(ValueError, match="queue 'jobs'"):
        Functions("fn-bad", ctx)


@pytest.fixture(scope="module")
def tls_functions():
    from components.ca import CertificateAuthority
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    ca = CertificateAuthority("tfn-ca", ctx)
    nats = Nats("tfn-nats", ctx)
    sns = Notifications("tfn-sns", ctx, nats_server=nats.server, ca=ca.handle)
    sqs = Queues("tfn-sqs", ctx, nats_server=nats.server, notifications=sns, ca=ca.handle)
    return Functions("tfn", ctx, sns=sns.api, topics=sns.topic_resources,
                     queues=sqs.queue_resources, sqs=sqs.api)


@pulumi.runtime.test
def test_with_a_ca_the_sqs_pollers_config_names_the_root_to_verify_sqs_with(tls_functions):
    from tests.support.pki import mock_pki

    def check(_):
        root = MOCKS.inputs("tfn-sqs-ca-root-write")
        assert root["path"] == "/etc/mammatus/functions/sqs-ca-root.pem"
        assert root["content"] == mock_pki().root_pem
        config = json.loads(MOCKS.inputs("tfn-sqs-pollers-write")["content"])
        assert config["ca_file"] == "/etc/mammatus/functions/sqs-ca-root.pem"
    return settled(tls_functions).apply(check)


@pulumi.runtime.test
def test_without_a_ca_the_sqs_pollers_config_names_no_root(functions):
    comp, _ = functions

    def check(_):
        assert "ca_file" not in json.loads(MOCKS.inputs("fn-sqs-pollers-write")["content"])
        assert not any(r.name == "fn-sqs-ca-root" for r in MOCKS.resources)
    return settled(comp).apply(check)
