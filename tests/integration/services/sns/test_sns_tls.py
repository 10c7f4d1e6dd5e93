"""SNS over HTTPS, delivering to SQS over HTTPS: both with certificates from a throwaway CA
standing in for the cloud's step-ca, SNS verifying SQS against its root (`--ca-file`)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request

import pytest
from botocore.exceptions import SSLError

from tests.integration.services.sqs.procs import Service, client, write_credentials
from tests.support.nats import NatsServer
from tests.support.pki import make_pki
from .conftest import tls_sns
from .test_sns import drain, make_queue, uniq

pytestmark = pytest.mark.integration


def test_a_publish_over_https_reaches_a_queue_over_https(tls_sns_service, tls_sqs_service,
                                                         tls_files, test_ca):
    sns = client("sns", tls_sns_service.endpoint, verify=tls_files.root)
    sqs = client("sqs", tls_sqs_service.endpoint, verify=tls_files.root)
    topic = sns.create_topic(Name=uniq())["TopicArn"]
    url, arn = make_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="over https, twice")
    envelope = json.loads(drain(sqs, url, 1)[0]["Body"])
    assert envelope["Message"] == "over https, twice"
    # What subscribers fetch is on the HTTPS endpoint too, and verifies against the root.
    assert envelope["SigningCertURL"].startswith(f"https://127.0.0.1:{tls_sns_service.port}/")
    context = ssl.create_default_context(cafile=tls_files.root)
    with urllib.request.urlopen(envelope["SigningCertURL"], context=context, timeout=5) as r:
        assert r.read() == (test_ca / "sns.pem").read_bytes()


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_sns_service):
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        client("sns", tls_sns_service.endpoint).list_topics()


def test_sns_does_not_deliver_to_an_sqs_its_ca_file_does_not_vouch_for(tls_files, test_ca, tmp_path):
    # A NATS of its own: SNS processes on one NATS share the deliveries (a trusting one would
    # make this one's).
    nats = NatsServer(tmp_path / "nats").start()
    sqs_svc = Service("services.sqs", ["--nats", nats.url, "--credentials",
                                       str(write_credentials(tmp_path / "sqs-credentials")),
                                       "--tls-cert", tls_files.cert, "--tls-key", tls_files.key],
                      tmp_path / "sqs.log", scheme="https")
    (tmp_path / "other-root.pem").write_text(make_pki().root_pem)
    sns_svc = tls_sns(nats, sqs_svc.endpoint, test_ca, tls_files, str(tmp_path / "other-root.pem"),
                      tmp_path)
    try:
        sqs_svc.start()
        sns_svc.start()
        sns = client("sns", sns_svc.endpoint, verify=tls_files.root)
        sqs = client("sqs", sqs_svc.endpoint, verify=tls_files.root)
        topic = sns.create_topic(Name=uniq())["TopicArn"]
        url, arn = make_queue(sqs)
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true"})
        sns.publish(TopicArn=topic, Message="must not arrive")
        log = tmp_path / "sns.log"
        for _ in range(100):
            if "SQS unreachable" in log.read_text():
                break
            time.sleep(0.1)
        assert "SQS unreachable: ClientConnectorCertificateError" in log.read_text()
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", []) == []
    finally:
        sns_svc.stop()
        sqs_svc.stop()
        nats.stop()
