"""SQS over HTTPS (`--tls-cert`, `--tls-key`), its certificate from a throwaway CA standing in for
the cloud's step-ca: boto3 verifying against the root works and gets https queue URLs; a client
that does not trust the root, plain HTTP and TLS before 1.2 get nothing."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys

import pytest
import requests
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, SSLError

from tests.support.paths import ROOT
from tests.support.pki import make_pki
from .procs import client

pytestmark = pytest.mark.integration


def test_boto3_verifying_against_the_root_gets_https_queue_urls(tls_sqs_service, tls_files):
    sqs = client("sqs", tls_sqs_service.endpoint, verify=tls_files.root)
    url = sqs.create_queue(QueueName="tls-jobs")["QueueUrl"]
    try:
        # Built from the request's scheme: what a client gets back is https too.
        assert url == f"https://127.0.0.1:{tls_sqs_service.port}/000000000000/tls-jobs"
        assert sqs.get_queue_url(QueueName="tls-jobs")["QueueUrl"] == url
        assert url in sqs.list_queues(QueueNamePrefix="tls-")["QueueUrls"]
        sqs.send_message(QueueUrl=url, MessageBody="over tls")
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
        assert [m["Body"] for m in got] == ["over tls"]
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_sqs_service, tmp_path):
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        client("sqs", tls_sqs_service.endpoint).list_queues()          # the system's roots
    (tmp_path / "other-root.pem").write_text(make_pki().root_pem)
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        client("sqs", tls_sqs_service.endpoint, verify=str(tmp_path / "other-root.pem")).list_queues()


def test_plain_http_to_the_tls_port_gets_no_answer(tls_sqs_service):
    plain = f"http://127.0.0.1:{tls_sqs_service.port}"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(plain + "/", data="Action=ListQueues", timeout=5)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        client("sqs", plain).list_queues()


def _handshake(port: int, context: ssl.SSLContext) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_2_and_1_3_only(tls_sqs_service, tls_files):
    def context(version: ssl.TLSVersion) -> ssl.SSLContext:
        c = ssl.create_default_context(cafile=tls_files.root)
        c.minimum_version = c.maximum_version = version
        return c
    assert _handshake(tls_sqs_service.port, context(ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"
    assert _handshake(tls_sqs_service.port, context(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
    old = context(ssl.TLSVersion.TLSv1_1)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")   # let this client offer TLS 1.1 at all
    with pytest.raises(ssl.SSLError):
        _handshake(tls_sqs_service.port, old)


def test_a_certificate_without_its_key_is_refused_at_start(tls_files):
    done = subprocess.run([sys.executable, "-m", "services.sqs", "--credentials", "/dev/null",
                           "--tls-cert", tls_files.cert], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "--tls-cert and --tls-key go together" in done.stderr
