
import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.context import CloudContext  # noqa: E402
from components.messaging import Nats, Notifications, Queues, queue_order  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402

DYN = "pulumi-python:dynamic/mammatus:"


@pytest.fixture(scope="module")
def layers():
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    nats = Nats("msg-nats", ctx)
    sns = Notifications("msg-sns", ctx, nats_server=nats.server)
    sqs = Queues("msg-sqs", ctx, nats_server=nats.server, notifications=sns)
    return nats, sns, sqs, ctx


def settled(layers):
    nats, sns, sqs, _ = layers
    return pulumi.Output.all(nats.urn, sns.urn, sqs.urn, nats.url, sns.endpoint, sqs.endpoint,
                             sns.topics, sqs.queues, sqs.subscriptions)


@pulumi.runtime.test
def test_nats_with_jetstream_on_loopback_when_sns_and_sqs_share_its_host(layers):
    def check(args):
        assert args[0].endswith("mammatus:messaging:Nats::msg-nats")
        assert args[3] == "nats://127.0.0.1:4222"
        conf = MOCKS.inputs("msg-nats-config-write")["content"]
        assert 'listen: "127.0.0.1:4222"' in conf and "jetstream {" in conf
        run = MOCKS.inputs("msg-nats-nats-server-run")
        assert "nats-server -c /etc/mammatus/nats/nats.conf" in run["create"]
        assert run["connection"]["host"] == "10.0.0.2"
    return settled(layers).apply(check)


@pulumi.runtime.test
def test_sns_and_sqs_services_with_generated_credentials(layers):
    def check(args):
        assert args[1].endswith("mammatus:messaging:Notifications::msg-sns")
        assert (args[4], args[5]) == ("http://10.0.0.2:9911", "http://10.0.0.2:9324")
        creds = MOCKS.inputs("msg-sns-sns-credentials-write")
        assert creds["mode"] == "0600"
        assert creds["content"].startswith("[default]\naws_access_key_id = mammatus-sns\n")
        sqs_creds = MOCKS.inputs("msg-sqs-sqs-credentials-write")["content"]
        assert "[sns]\naws_access_key_id = mammatus-sns\n" in sqs_creds   # SNS may deliver to SQS
        sns_run = MOCKS.inputs("msg-sns-sns-run")["create"]
        assert "--public-url http://10.0.0.2:9911" in sns_run
        assert "--sqs-endpoint http://10.0.0.2:9324 --sqs-credentials /etc/mammatus/sns/credentials" in sns_run
        run = MOCKS.inputs("msg-sqs-sqs-run")["create"]
        assert "-m services.sqs --listen 10.0.0.2:9324 --nats nats://127.0.0.1:4222" in run
        assert "--credentials /etc/mammatus/sqs/credentials" in run
    return settled(layers).apply(check)


@pulumi.runtime.test
def test_each_service_logs_in_to_nats_with_a_password_only_it_reads(layers):
    def check(args):
        conf = MOCKS.inputs("msg-nats-config-write")
        assert conf["mode"] == "0600" and conf["owner"] == "nats:nats"
        for kind in ("sns", "sqs"):
            secret = MOCKS.inputs(f"msg-{kind}-{kind}-nats-password-write")
            assert secret["mode"] == "0600" and secret["owner"] == f"mammatus-{kind}:mammatus-{kind}"
            assert secret["path"] == f"/etc/mammatus/{kind}/nats-password"
            assert f'{{user: "{kind}", password: "{secret["content"]}"}}' in conf["content"]
            run = MOCKS.inputs(f"msg-{kind}-{kind}-run")["create"]
            assert f"--nats-user {kind} --nats-password-file /etc/mammatus/{kind}/nats-password" in run
            assert secret["content"] not in run  # never on a command line
    return settled(layers).apply(check)


@pulumi.runtime.test
def test_topics_queues_dead_letters_and_subscriptions(layers):
    _, sns, sqs, _ = layers

    def check(args):
        assert MOCKS.named("msg-sns-topic-orders-fifo").typ == DYN + "SnsTopic"
        assert MOCKS.inputs("msg-sns-topic-orders-fifo")["name"] == "orders.fifo"
        jobs = MOCKS.inputs("msg-sqs-queue-jobs")
        assert jobs["dead_letter_queue"] == "jobs-dlq" and jobs["visibility_timeout"] == 30
        assert jobs["connection"]["endpoint"] == "http://10.0.0.2:9324"
        sub = MOCKS.inputs("msg-sqs-sub-events-jobs")
        assert (sub["protocol"], sub["raw_message_delivery"]) == ("sqs", True)
        assert sub["connection"]["endpoint"] == "http://10.0.0.2:9911"
        assert set(sqs.queue_resources) == {"jobs", "jobs-dlq", "orders.fifo"}
        assert set(sns.topic_resources) == {"events", "orders.fifo"}
        assert len(args[8]) == 2   # jobs <- events, orders.fifo <- orders.fifo
    return settled(layers).apply(check)


def test_queue_order_puts_dead_letter_queues_first():
    spec = stack_spec("home")
    names = [q.name for q in queue_order(spec.queues)]
    assert names.index("jobs-dlq") < names.index("jobs")


def test_nats_listens_on_the_lan_when_a_service_is_elsewhere():
    from components.messaging import nats_listen_host
    base = stack_spec("home").model_dump(by_alias=True)
    base["placement"]["sqs"] = "storage-1"
    from stacks.spec import StackSpec
    ctx = CloudContext(StackSpec.model_validate(base), "KEY", "ssh-ed25519 AAAA")
    assert nats_listen_host(ctx) == "10.0.0.2"
    assert nats_listen_host(CloudContext(stack_spec("home"), "KEY", "k")) == "127.0.0.1"


@pulumi.runtime.test
def test_sns_signs_with_a_certificate_from_the_clouds_ca():
    from components.ca import CertificateAuthority
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    ca = CertificateAuthority("sig-ca", ctx)
    nats = Nats("sig-nats", ctx)
    sns = Notifications("sig-sns", ctx, nats_server=nats.server, ca=ca.handle)

    def check(_):
        key = MOCKS.named("sig-sns-signing-key")
        assert key.inputs["algorithm"] == "RSA"      # SNS signatures are RSA (SHA1/SHA256)
        assert MOCKS.named("sig-sns-signing-cert").typ == DYN + "StepCaCertificate"
        assert MOCKS.inputs("sig-sns-signing-key-file-write")["mode"] == "0600"
        run = MOCKS.inputs("sig-sns-sns-run")["create"]
        assert "--signing-cert /etc/mammatus/sns/signing.crt --signing-key /etc/mammatus/sns/signing.key" in run
    return pulumi.Output.all(sns.urn, sns.endpoint).apply(check)


@pulumi.runtime.test
def test_without_a_ca_sns_gets_no_signing_files(layers):
    def check(_):
        assert "--signing-cert" not in MOCKS.inputs("msg-sns-sns-run")["create"]
    return settled(layers).apply(check)


@pytest.fixture(scope="module")
def tls_layers():
    from components.ca import CertificateAuthority
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    ca = CertificateAuthority("tls-ca", ctx)
    nats = Nats("tls-nats", ctx)
    sns = Notifications("tls-sns", ctx, nats_server=nats.server, ca=ca.handle)
    sqs = Queues("tls-sqs", ctx, nats_server=nats.server, notifications=sns, ca=ca.handle)
    return nats, sns, sqs, ctx


@pulumi.runtime.test
def test_with_a_ca_sns_and_sqs_serve_https_with_certificates_for_their_host(tls_layers):
    from components.naming import domain_of, fqdn
    from tests.support.pki import mock_pki
    _, _, _, ctx = tls_layers
    control = fqdn("control", domain_of(ctx.spec))

    def check(args):
        assert (args[4], args[5]) == ("https://10.0.0.2:9911", "https://10.0.0.2:9324")
        for kind in ("sns", "sqs"):
            assert MOCKS.named(f"tls-{kind}-{kind}-tls-cert").typ == DYN + "StepCaCertificate"
            csr = MOCKS.inputs(f"tls-{kind}-{kind}-tls-csr")
            assert csr["subject"]["commonName"] == control
            assert csr["dnsNames"] == [control]
            assert csr["ipAddresses"] == ["10.0.0.2"]   # clients address the service by IP
            cert = MOCKS.inputs(f"tls-{kind}-{kind}-tls-cert-file-write")
            assert cert["path"] == f"/etc/mammatus/{kind}/tls.crt"
            key = MOCKS.inputs(f"tls-{kind}-{kind}-tls-key-file-write")
            assert key["path"] == f"/etc/mammatus/{kind}/tls.key"
            assert (key["mode"], key["owner"]) == ("0600", f"mammatus-{kind}:mammatus-{kind}")
            assert key["content"] == mock_pki().intermediate_key_pem   # the mocked ECDSA key
            run = MOCKS.inputs(f"tls-{kind}-{kind}-run")["create"]
            assert f"--tls-cert /etc/mammatus/{kind}/tls.crt --tls-key /etc/mammatus/{kind}/tls.key" in run
    return settled(tls_layers).apply(check)


@pulumi.runtime.test
def test_with_a_ca_sns_reaches_sqs_over_https_verified_against_the_root(tls_layers):
    from tests.support.pki import mock_pki

    def check(_):
        run = MOCKS.inputs("tls-sns-sns-run")["create"]
        assert "--public-url https://10.0.0.2:9911" in run   # SigningCertURL, SubscribeURL
        assert "--sqs-endpoint https://10.0.0.2:9324" in run
        assert "--ca-file /etc/mammatus/sns/ca-root.pem" in run
        root = MOCKS.inputs("tls-sns-sns-ca-file-write")
        assert root["path"] == "/etc/mammatus/sns/ca-root.pem" and root["content"] == mock_pki().root_pem
    return settled(tls_layers).apply(check)


@pulumi.runtime.test
def test_with_a_ca_every_connection_pulumi_uses_carries_the_root(tls_layers):
    from tests.support.pki import mock_pki
    _, sns, sqs, _ = tls_layers
    root = mock_pki().root_pem

    def check(args):
        queue = MOCKS.inputs("tls-sqs-queue-jobs")["connection"]
        assert (queue["endpoint"], queue["ca_pem"]) == ("https://10.0.0.2:9324", root)
        topic = MOCKS.inputs("tls-sns-topic-events")["connection"]
        assert (topic["endpoint"], topic["ca_pem"]) == ("https://10.0.0.2:9911", root)
        sub = MOCKS.inputs("tls-sqs-sub-events-jobs")["connection"]
        assert (sub["endpoint"], sub["ca_pem"]) == ("https://10.0.0.2:9911", root)
        assert args[-2:] == [root, root]   # the AwsApi handed to later layers (Functions)
    return pulumi.Output.all(settled(tls_layers), sns.api.connection["ca_pem"],
                             sqs.api.connection["ca_pem"]).apply(lambda a: check([*a[0], *a[1:]]))


@pulumi.runtime.test
def test_without_a_ca_the_services_speak_http_and_connections_carry_no_root(layers):
    def check(_):
        for kind in ("sns", "sqs"):
            run = MOCKS.inputs(f"msg-{kind}-{kind}-run")["create"]
            assert "--tls-cert" not in run and "--tls-key" not in run
            assert not any(r.name.startswith(f"msg-{kind}-{kind}-tls") for r in MOCKS.resources)
        assert "--ca-file" not in MOCKS.inputs("msg-sns-sns-run")["create"]
        assert "ca_pem" not in MOCKS.inputs("msg-sqs-queue-jobs")["connection"]
        assert "ca_pem" not in MOCKS.inputs("msg-sns-topic-events")["connection"]
    return settled(layers).apply(check)


def test_queues_and_notifications_must_share_the_ca():
    from components.ca import CertificateAuthority
    from components.contracts import WiringError
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    ca = CertificateAuthority("mix-ca", ctx)
    nats = Nats("mix-nats", ctx)
    sns = Notifications("mix-sns", ctx, nats_server=nats.server)
    with pytest.raises(WiringError, match="same CA"):
        Queues("mix-sqs", ctx, nats_server=nats.server, notifications=sns, ca=ca.handle)
