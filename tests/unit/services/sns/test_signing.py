import base64

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from services.sns.signing import Signer, string_to_sign


def test_string_to_sign_notification_skips_missing_subject():
    doc = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi",
           "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "2"}
    assert string_to_sign(doc) == (b"Message\nhi\nMessageId\nm\nTimestamp\n2026-01-01T00:00:00.000Z\n"
                                   b"TopicArn\nt\nType\nNotification\n")


def test_string_to_sign_confirmation_includes_token_and_url():
    doc = {"Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": "t", "Message": "x",
           "Timestamp": "ts", "Token": "tok", "SubscribeURL": "u"}
    assert string_to_sign(doc) == (b"Message\nx\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\n"
                                   b"Token\ntok\nTopicArn\nt\nType\nSubscriptionConfirmation\n")


@pytest.mark.parametrize("version, algo", [("2", hashes.SHA256()), ("1", hashes.SHA1())])
def test_signatures_verify_with_the_certificate(version, algo):
    signer = Signer.self_signed()
    doc = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi", "Timestamp": "ts"}
    sig = base64.b64decode(signer.sign(doc, version))
    key = x509.load_pem_x509_certificate(signer.cert_pem).public_key()
    key.verify(sig, string_to_sign(doc), padding.PKCS1v15(), algo)
    with pytest.raises(InvalidSignature):
        key.verify(sig, string_to_sign(dict(doc, Message="tampered")), padding.PKCS1v15(), algo)
    assert signer.cert_name.startswith("SimpleNotificationService-") and signer.cert_name.endswith(".pem")


def test_mismatched_key_rejected():
    a, b = Signer.self_signed(), Signer.self_signed()
    with pytest.raises(ValueError):
        Signer(a.cert_pem, b.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
