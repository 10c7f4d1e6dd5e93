"""Signing of SNS messages (SignatureVersion 1 = SHA1, 2 = SHA256, RSA PKCS#1 v1.5).

The certificate is the one the cloud's CA issued to this service; the service serves it itself at
SigningCertURL so subscribers can fetch and verify it against the CA.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def string_to_sign(msg: dict) -> bytes:
    fields = NOTIFICATION_FIELDS if msg["Type"] == "Notification" else CONFIRMATION_FIELDS
    out = []
    for name in fields:
        if name in msg and msg[name] is not None:
            out.append(f"{name}\n{msg[name]}\n")
    return "".join(out).encode("utf-8")


class Signer:
    def __init__(self, cert_pem: bytes, key_pem: bytes):
        self.cert_pem = cert_pem
        self.key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
        if cert.public_key().public_numbers() != self.key.public_key().public_numbers():
            raise ValueError("signing certificate and key do not match")
        # a stable, content-derived file name, like AWS's SimpleNotificationService-<id>.pem
        self.cert_name = f"SimpleNotificationService-{hashlib.sha256(cert_pem).hexdigest()[:32]}.pem"

    @classmethod
    def from_files(cls, cert_path: str, key_path: str) -> "Signer":
        with open(cert_path, "rb") as c, open(key_path, "rb") as k:
            return cls(c.read(), k.read())

    @classmethod
    def self_signed(cls) -> "Signer":
        """For running alone without the cloud CA: subscribers cannot chain this to a CA."""
        log.warning("no --signing-cert/--signing-key: signing with a throwaway self-signed certificate")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.mammatus.local")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
        return cls(cert.public_bytes(serialization.Encoding.PEM),
                   key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))

    def sign(self, msg: dict, version: str = "2") -> str:
        algo = hashes.SHA256() if version == "2" else hashes.SHA1()
        sig = self.key.sign(string_to_sign(msg), padding.PKCS1v15(), algo)
        return base64.b64encode(sig).decode()
