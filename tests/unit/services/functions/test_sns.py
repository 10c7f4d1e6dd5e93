"""The connector as an SNS subscriber: verification, confirmation, invocation, retries."""

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509

from services.functions import sns
from services.functions.config import SnsRoute
from tests.support.aio import run
from tests.support.pki import make_pki
from .helpers import SIGNING_NAME, TOPIC_ARN, FakeSns, RecordingGateway, signer_from

PATH = "/sns/events/on-event"
ROUTE = SnsRoute(path=PATH, topic_arn=TOPIC_ARN, function="on-event")


@pytest.fixture(scope="module")
def pki():
    return make_pki()


@pytest.fixture(scope="module")
def signer(pki):
    return signer_from(pki)


def roots_of(pki):
    return [x509.load_pem_x509_certificate(pki.root_pem.encode())]


def post_headers(kind="Notification", **more):
    return {"x-amz-sns-message-type": kind, "Content-Type": "text/plain; charset=UTF-8", **more}


async def connector(signer, pki=None, gateway=None, signing_name=SIGNING_NAME, roots=True,
                    fake_signer=None):
    """(fake SNS, test client of the connector, gateway) on loopback."""
    fake = FakeSns(fake_signer or signer)
    sns_server = TestServer(fake.app)
    await sns_server.start_server()
    fake.url = str(sns_server.make_url("")).rstrip("/")
    session = aiohttp.ClientSession()
    verifier = sns.Verifier(fake.url, session, roots_of(pki) if roots else None, signing_name)
    gateway = gateway or RecordingGateway()
    app = web.Application()
    sns.SnsSubscriber([ROUTE], verifier, gateway).add_routes(app)

    async def close(_app):
        await session.close()
        await sns_server.close()
    app.on_cleanup.append(close)
    client = TestClient(TestServer(app))
    await client.start_server()
    return fake, client, gateway


def test_a_notification_invokes_the_function_with_the_message_once(signer, pki):
    async def go():
        fake, client, gateway = await connector(signer, pki)
        try:
            doc = fake.document(message='{"order": 7}', Subject="New order",
                                MessageAttributes={"kind": {"Type": "String", "Value": "x"}})
            first = await client.post(PATH, data=json.dumps(doc), headers=post_headers())
            again = await client.post(PATH, data=json.dumps(doc), headers=post_headers())
            return first.status, again.status, gateway.calls, doc
        finally:
            await client.close()
    first, again, calls, doc = run(go())
    assert (first, again) == (200, 200)
    assert len(calls) == 1   # SNS's retry of a delivered MessageId is not invoked again
    call = calls[0]
    assert call["function"] == "on-event" and call["body"] == b'{"order": 7}' and not call["async"]
    h = call["headers"]
    assert h["X-Mammatus-Trigger"] == "sns" and h["X-Mammatus-Topic"] == "events"
    assert h["X-Mammatus-Topic-Arn"] == TOPIC_ARN and h["X-Mammatus-Message-Id"] == doc["MessageId"]
    assert h["X-Mammatus-Subject"] == "New order"
    assert json.loads(h["X-Mammatus-Message-Attributes"]) == {"kind": {"Type": "String", "Value": "x"}}


def test_a_failing_function_answers_502_so_sns_retries_and_the_retry_invokes_again(signer, pki):
    async def go():
        fake, client, gateway = await connector(signer, pki, RecordingGateway(status=500))
        try:
            doc = fake.document()
            first = await client.post(PATH, data=json.dumps(doc), headers=post_headers())
            gateway.status = 200
            retry = await client.post(PATH, data=json.dumps(doc), headers=post_headers())
            return first.status, retry.status, len(gateway.calls)
        finally:
            await client.close()
    assert run(go()) == (502, 200, 2)


def test_a_retry_while_the_first_delivery_runs_joins_it(signer, pki):
    async def go():
        fake, client, gateway = await connector(signer, pki, RecordingGateway(delay=0.3))
        try:
            doc = fake.document()
            answers = await asyncio.gather(*[client.post(PATH, data=json.dumps(doc),
                                                         headers=post_headers()) for _ in range(3)])
            return [a.status for a in answers], len(gateway.calls)
        finally:
            await client.close()
    assert run(go()) == ([200, 200, 200], 1)


def test_the_connector_confirms_its_own_subscription(signer, pki):
    async def go():
        fake, client, gateway = await connector(signer, pki)
        try:
            doc = fake.document("SubscriptionConfirmation", message="You have chosen to subscribe")
            answer = await client.post(PATH, data=json.dumps(doc),
                                       headers=post_headers("SubscriptionConfirmation"))
            return answer.status, fake.confirmed, gateway.calls
        finally:
            await client.close()
    status, confirmed, calls = run(go())
    assert status == 200 and confirmed == [{"Action": "ConfirmSubscription", "Token": "tok"}]
    assert calls == []


def test_an_unsubscribe_confirmation_invokes_nothing(signer, pki):
    async def go():
        fake, client, gateway = await connector(signer, pki)
        try:
            doc = fake.document("UnsubscribeConfirmation")
            answer = await client.post(PATH, data=json.dumps(doc),
                                       headers=post_headers("UnsubscribeConfirmation"))
            return answer.status, fake.confirmed, gateway.calls
        finally:
            await client.close()
    assert run(go()) == (200, [], [])


def test_signature_version_1_is_verified_too(signer, pki):
    async def go():
        fake, client, gateway = await connector(signer, pki)
        try:
            doc = fake.document(version="1")
            ok = await client.post(PATH, data=json.dumps(doc), headers=post_headers())
            forged = dict(fake.document(version="1"), Message="changed")
            bad = await client.post(PATH, data=json.dumps(forged), headers=post_headers())
            return ok.status, bad.status, len(gateway.calls)
        finally:
            await client.close()
    assert run(go()) == (200, 403, 1)


def refused(signer, pki, make_doc, headers=None, **connector_args):
    async def go():
        fake, client, gateway = await connector(signer, pki, **connector_args)
        try:
            doc = make_doc(fake)
            body = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
            answer = await client.post(PATH, data=body, headers=post_headers() if headers is None else headers)
            return answer.status, (await answer.json())["error"], gateway.calls, fake.confirmed
        finally:
            await client.close()
    status, error, calls, confirmed = run(go())
    assert calls == [] and confirmed == []
    return status, error


def test_a_changed_message_is_refused(signer, pki):
    status, error = refused(signer, pki, lambda f: dict(f.document(), Message="forged"))
    assert (status, error) == (403, "the signature does not match the message")


def test_a_certificate_off_the_sns_endpoint_is_never_fetched(signer, pki):
    status, error = refused(signer, pki, lambda f: dict(
        f.document(), SigningCertURL="http://192.0.2.1/evil.pem"))
    assert status == 403 and "SigningCertURL is not on the SNS endpoint" in error


def test_a_subscribe_url_off_the_sns_endpoint_is_never_followed(signer, pki):
    def doc(f):
        d = f.document("SubscriptionConfirmation")
        d["SubscribeURL"] = "http://192.0.2.1/?Action=ConfirmSubscription"
        d["Signature"] = f.signer.sign(d, "2")
        return d
    status, error = refused(signer, pki, doc, post_headers("SubscriptionConfirmation"))
    assert status == 403 and "SubscribeURL is not on the SNS endpoint" in error


def test_a_signing_certificate_from_another_ca_is_refused(signer, pki):
    other = signer_from(make_pki())
    status, error = refused(signer, pki, lambda f: f.document(), fake_signer=other)
    assert (status, error) == (403, "the signing certificate does not chain to the cloud's CA")


def test_a_signing_certificate_of_another_name_is_refused(signer, pki):
    status, error = refused(signer, pki, lambda f: f.document(),
                            signing_name="sns-other.home.mammatus")
    assert status == 403 and "is not sns-other.home.mammatus's" in error


def test_without_a_ca_the_endpoints_certificate_still_checks_the_signature(signer, pki):
    status, error = refused(signer, pki, lambda f: dict(f.document(), Message="forged"),
                            roots=False)
    assert status == 403 and "signature" in error


def test_another_topic_on_this_path_is_refused(signer, pki):
    status, error = refused(signer, pki, lambda f: f.document(
        topic_arn="arn:aws:sns:us-east-1:000000000000:other"))
    assert status == 400 and "takes messages of " + TOPIC_ARN in error


@pytest.mark.parametrize("headers, body, status, error", [
    ({}, "{}", 400, "x-amz-sns-message-type must be one of"),
    ({"x-amz-sns-message-type": "Bogus"}, "{}", 400, "x-amz-sns-message-type must be one of"),
    (post_headers(), "not json", 400, "not an SNS JSON document"),
    (post_headers(), "[]", 400, "not an SNS Notification"),
    (post_headers("Notification", **{"x-amz-sns-rawdelivery": "true"}), "raw", 400,
     "raw message delivery"),
])
def test_malformed_posts_get_a_4xx(signer, pki, headers, body, status, error):
    got_status, got_error = refused(signer, pki, lambda f: body, headers=headers)
    assert got_status == status and error in got_error


def test_the_chain_check_walks_intermediates_to_the_root(signer, pki):
    bundle = x509.load_pem_x509_certificates(signer.cert_pem)
    assert len(bundle) == 2
    sns.check_chain(bundle, roots_of(pki))
    with pytest.raises(sns.Rejected, match="does not chain"):
        sns.check_chain(bundle[:1], roots_of(pki))       # the intermediate left out
    with pytest.raises(sns.Rejected, match="does not chain"):
        sns.check_chain(bundle, roots_of(make_pki()))
    assert sns.cert_names(bundle[0]) == [SIGNING_NAME]


def test_a_large_message_arrives_whole_and_a_larger_than_any_sns_message_is_refused(signer, pki):
    async def go():
        fake, client, gateway = await connector(signer, pki)
        try:
            big = "é" * 120_000   # 240 KB of UTF-8, 720 KB escaped in the envelope
            ok = await client.post(PATH, data=json.dumps(fake.document(message=big)),
                                   headers=post_headers())
            huge = await client.post(PATH, data=b"{" + b" " * (sns.MAX_BODY + 1) + b"}",
                                     headers=post_headers())
            return ok.status, huge.status, [c["body"] for c in gateway.calls], big
        finally:
            await client.close()
    ok, huge, bodies, big = run(go())
    assert (ok, huge) == (200, 413) and bodies == [big.encode()]
