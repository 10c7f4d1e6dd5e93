"""step-ca's ca.json: root and intermediate from files, an ACME provisioner for services that
renew their own certificates (traefik) and a JWK provisioner for certificates Pulumi issues to
internal services (dynamic_providers/step_ca.py signs its one-time tokens with the JWK's key).

Pure functions; the rendered file is loaded by the real step-ca in tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.render.paths import HostPaths

DEFAULT_PORT = 9000
ACME_PROVISIONER = "acme"
JWK_PROVISIONER = "mammatus"


@dataclass(frozen=True)
class StepCaPaths(HostPaths):
    """Where step-ca's files live on its host."""
    config: str = "/etc/mammatus/step-ca/config/ca.json"
    root_cert: str = "/etc/mammatus/step-ca/certs/root_ca.crt"
    intermediate_cert: str = "/etc/mammatus/step-ca/certs/intermediate_ca.crt"
    intermediate_key: str = "/etc/mammatus/step-ca/secrets/intermediate_ca_key"
    db_dir: str = "/var/lib/mammatus/step-ca/db"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_from_public_pem(pem: str) -> dict:
    """The public JWK (EC P-256, ES256) of a PEM public or private key; `kid` is its RFC 7638
    thumbprint, as `step crypto jwk create` writes it."""
    data = pem.encode()
    if b"PRIVATE KEY" in data:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the JWK provisioner's key must be ECDSA P-256")
    numbers = key.public_numbers()
    jwk = {"crv": "P-256", "kty": "EC",
           "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big"))}
    thumbprint = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return {"use": "sig", "kty": "EC", "kid": _b64url(hashlib.sha256(thumbprint).digest()),
            "crv": "P-256", "alg": "ES256", "x": jwk["x"], "y": jwk["y"]}


def root_fingerprint(pem: str) -> str:
    """SHA-256 of the certificate's DER, lower-case hex: what `step certificate fingerprint`
    prints and `step ca bootstrap --fingerprint` expects."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def acme_provisioner(name: str = ACME_PROVISIONER) -> dict:
    """ACME for the LAN's machines and routes: http-01 proves a name by answering where DNS
    points it, so the cloud's own names are static DNS records that no DHCP client can take
    (components/render/dnsmasq.host_records). step-ca 0.30 reads name policies for a
    provisioner only from its admin database, not from ca.json."""
    return {"type": "ACME", "name": name, "forceCN": True,
            "challenges": ["http-01", "tls-alpn-01"],
            "claims": {"defaultTLSCertDuration": "24h", "maxTLSCertDuration": "720h"}}


def jwk_provisioner(jwk: dict, name: str = JWK_PROVISIONER) -> dict:
    return {"type": "JWK", "name": name, "key": jwk,
            "claims": {"defaultTLSCertDuration": "720h", "maxTLSCertDuration": "2160h"}}


def ca_config(paths: StepCaPaths, dns_names: Sequence[str], provisioners: Sequence[dict],
              address: str = f":{DEFAULT_PORT}", log_format: str = "text") -> str:
    """ca.json as step-ca reads it."""
    names = [n for n in dns_names if n]
    if not names:
        raise ValueError("step-ca needs at least one DNS name or address")
    seen = set()
    for p in provisioners:
        key = (p["type"], p["name"])
        if key in seen:
            raise ValueError(f"duplicate provisioner {p['type']}/{p['name']}")
        seen.add(key)
    config = {
        "root": paths.root_cert,
        "federatedRoots": None,
        "crt": paths.intermediate_cert,
        "key": paths.intermediate_key,
        "address": address,
        "insecureAddress": "",
        "dnsNames": list(dict.fromkeys(names)),
        "logger": {"format": log_format},
        "db": {"type": "badgerv2", "dataSource": paths.db_dir, "badgerFileLoadingMode": ""},
        "authority": {
            "provisioners": list(provisioners),
            "claims": {"minTLSCertDuration": "5m", "maxTLSCertDuration": "2160h",
                       "defaultTLSCertDuration": "24h"},
        },
        "tls": {
            "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                             "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
            "minVersion": 1.2, "maxVersion": 1.3, "renegotiation": False,
        },
    }
    return json.dumps(config, indent=2) + "\n"


def ca_url(host: str, port: int = DEFAULT_PORT) -> str:
    return f"https://{host}:{port}"


def acme_directory(url: str, provisioner: str = ACME_PROVISIONER) -> str:
    return f"{url}/acme/{provisioner}/directory"


def dns_names_for(fqdn: str, address: str, extra: Optional[Sequence[str]] = None) -> list[str]:
    return list(dict.fromkeys([fqdn, address, *(extra or []), "localhost", "127.0.0.1"]))
