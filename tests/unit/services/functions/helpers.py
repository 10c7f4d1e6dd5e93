"""What the connector's unit tests share: an SNS signing identity from a test CA, a fake SNS
endpoint (the certificate at SigningCertURL, the SubscribeURL) and a recording gateway."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from services.functions.gateway import Invocation
from services.sns.signing import Signer
from tests.support.pki import TestPki

TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:events"
SIGNING_NAME = "sns-control.home.mammatus"


def signer_from(pki: TestPki, name: str = SIGNING_NAME) -> Signer:
    """An RSA signing certificate for `name` from the PKI's intermediate, served with its
    chain (leaf then intermediate), as the Notifications layer gives SNS."""
    now = dt.datetime.now(dt.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    intermediate = x509.load_pem_x509_certificate(pki.intermediate_pem.encode())
    issuer_key = serialization.load_pem_private_key(pki.intermediate_key_pem.encode(), None)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(intermediate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    chain = leaf.public_bytes(serialization.Encoding.PEM) + pki.intermediate_pem.encode()
    return Signer(chain, key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


class FakeSns:
    """The SNS endpoint's two URLs a subscriber fetches: the signing certificate and the
    SubscribeURL (ConfirmSubscription), the latter recorded."""

    def __init__(self, signer: Signer):
        self.signer = signer
        self.confirmed: list[dict] = []
        self.app = web.Application()
        self.app.router.add_get(f"/{signer.cert_name}", self._cert)
        self.app.router.add_get("/", self._confirm)
        self.url = ""   # set once served

    async def _cert(self, _request):
        return web.Response(body=self.signer.cert_pem, content_type="application/x-pem-file")

    async def _confirm(self, request):
        self.confirmed.append(dict(request.query))
        return web.Response(text="<ConfirmSubscriptionResponse/>")

    def document(self, kind: str = "Notification", message: str = "hello", version: str = "2",
                 topic_arn: str = TOPIC_ARN, **extra) -> dict:
        doc = {"Type": kind, "MessageId": str(uuid.uuid4()), "TopicArn": topic_arn,
               "Message": message, "Timestamp": "2026-01-01T00:00:00.000Z", **extra}
        if kind != "Notification":
            doc["Token"] = "tok"
            doc["SubscribeURL"] = f"{self.url}/?Action=ConfirmSubscription&Token=tok"
        doc["SignatureVersion"] = version
        doc["Signature"] = self.signer.sign(doc, version)
        doc["SigningCertURL"] = f"{self.url}/{self.signer.cert_name}"
        return doc


class RecordingGateway:
    """Stands in for services.functions.gateway.Gateway: records each invocation."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status, self.delay = status, delay
        self.calls: list[dict] = []

    async def invoke(self, function, body, headers, asynchronous=False):
        self.calls.append({"function": function, "body": body, "headers": headers,
                           "async": asynchronous})
        if self.delay:
            await asyncio.sleep(self.delay)
        return Invocation(function, self.status)
