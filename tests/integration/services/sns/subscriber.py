"""An http(s) subscriber as a real one would be: confirms, fetches the cert, verifies signatures."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def verify(doc: dict, ca_pem: bytes) -> bool:
    """AWS's documented procedure: fetch SigningCertURL, check it chains to the CA, check the signature."""
    with urllib.request.urlopen(doc["SigningCertURL"], timeout=10) as r:
        cert = x509.load_pem_x509_certificate(r.read())
    ca = x509.load_pem_x509_certificate(ca_pem)
    cert.verify_directly_issued_by(ca)  # raises if not issued by the CA
    fields = NOTIFICATION if doc["Type"] == "Notification" else CONFIRMATION
    text = "".join(f"{k}\n{doc[k]}\n" for k in fields if k in doc).encode()
    algo = hashes.SHA256() if doc["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(doc["Signature"]), text, padding.PKCS1v15(), algo)
    return True


class Subscriber:
    def __init__(self, ca_pem: bytes, fail_first: int = 0, confirm: bool = True, tls: tuple | None = None):
        self.ca_pem = ca_pem
        self.fail_first = fail_first
        self.confirm = confirm
        self.received: list[tuple[dict, dict]] = []   # (headers, parsed body or raw)
        self.attempts = 0
        self.verified = 0
        self.event = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                kind = headers.get("x-amz-sns-message-type")
                if kind == "Notification":
                    outer.attempts += 1
                    if outer.attempts <= outer.fail_first:
                        self.send_response(500)
                        self.end_headers()
                        return
                doc = body
                if headers.get("x-amz-sns-rawdelivery") != "true":
                    doc = json.loads(body)
                    if verify(doc, outer.ca_pem):
                        outer.verified += 1
                    if kind == "SubscriptionConfirmation" and outer.confirm:
                        urllib.request.urlopen(doc["SubscribeURL"], timeout=10).read()
                self.send_response(200)
                self.end_headers()
                with outer.event:
                    outer.received.append((headers, doc))
                    outer.event.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls:  # (cert file, key file): serve https with a certificate from the test CA
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate, timeout=30.0):
        with self.event:
            self.event.wait_for(lambda: predicate(self.received), timeout=timeout)
        return [r for r in self.received]

    def of_type(self, kind):
        return [d for h, d in self.received if h.get("x-amz-sns-message-type") == kind]
