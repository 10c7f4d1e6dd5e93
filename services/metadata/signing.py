"""The instance identity document's signatures, as EC2 serves them under
`dynamic/instance-identity/` and documents their verification ("Verify the instance identity
document"): `signature` (base64 of an RSA signature over the document's SHA-256), `pkcs7` (a
PKCS#7 SignedData that carries the document: `openssl smime -verify -in pkcs7 -inform PEM
-certfile certificate -noverify` prints it) and `rsa2048` (a detached PKCS#7 SHA-256 signature:
`openssl smime -verify -in rsa2048 -inform PEM -content document -certfile certificate -noverify`).
Both PKCS#7 forms are served as base64 without the PEM armour, as EC2 does.

One RSA-2048 key signs all three: a key and certificate the cloud's CA issued
(components/metadata.py; the certificate is the stack output `instance_identity_certificate`).
EC2 signs `pkcs7` with SHA-1 and DSA; SHA-1 signatures are refused by current OpenSSL
defaults, so here it is SHA-256 and RSA, which the same command verifies.
"""

from __future__ import annotations

import base64
import functools
import os
import textwrap
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

FORMS = ("signature", "pkcs7", "rsa2048")


class SigningError(Exception):
    pass


@dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def signature(self, document: bytes) -> str:
        raw = self.key.sign(document, padding.PKCS1v15(), hashes.SHA256())
        return _lines(base64.b64encode(raw).decode())

    def _pkcs7(self, document: bytes, detached: bool) -> str:
        # Binary: the document is signed byte for byte (no MIME canonical line endings).
        options = [pkcs7.PKCS7Options.Binary] + ([pkcs7.PKCS7Options.DetachedSignature]
                                                 if detached else [])
        der = (pkcs7.PKCS7SignatureBuilder().set_data(document)
               .add_signer(self.certificate, self.key, hashes.SHA256())
               .sign(serialization.Encoding.DER, options))
        return _lines(base64.b64encode(der).decode())

    def sign(self, form: str, document: str) -> str:
        data = document.encode()
        if form == "signature":
            return self.signature(data)
        if form == "pkcs7":
            return self._pkcs7(data, detached=False)
        if form == "rsa2048":
            return self._pkcs7(data, detached=True)
        raise SigningError(f"no signature form {form!r} (known: {', '.join(FORMS)})")


def _lines(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 64))


def load(key_file: str, cert_file: str) -> Signer:
    """The key and certificate from their PEM files, read again when either file changes."""
    try:
        stamp = tuple(os.stat(p).st_mtime_ns for p in (key_file, cert_file))
    except OSError as exc:
        raise SigningError(f"identity signing key or certificate unreadable: {exc}") from None
    return _load(key_file, cert_file, stamp)


@functools.lru_cache(maxsize=4)
def _load(key_file: str, cert_file: str, _stamp: tuple) -> Signer:
    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(cert_file, "rb") as f:
        # The leaf first (a full chain may follow).
        certificate = x509.load_pem_x509_certificates(f.read())[0]
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise SigningError("the identity signing key must be RSA, 2048 bits or more")
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():
        raise SigningError("the identity signing certificate is not the key's")
    return Signer(key, certificate)
