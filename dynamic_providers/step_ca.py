"""step-ca provisioners and certificates as resources.

* `StepCaCertificate`: a certificate for an internal service, signed by step-ca over its REST
  API: POST /1.0/sign with the service's CSR and a one-time token (a JWT signed with the JWK
  provisioner's private key, the same token `step ca token` makes); delete revokes it (POST
  /1.0/revoke, passive). The private key never reaches the CA (it stays in a tls.PrivateKey).
* `StepCaProvisioner`: one provisioner entry in step-ca's ca.json on the CA host (upserted by
  name over SSH, or locally without a connection), then step-ca is told to reload (SIGHUP);
  `create` waits until GET /provisioners lists it, `read` reads ca.json back. The base ca.json
  is written by the CertificateAuthority layer; its digest is an immutable input, so a rewritten
  base re-adds the provisioner.

Pure builders (`build_token`, `sign_request`, `revoke_request`, `upsert_provisioner`,
`remove_provisioner`, `reload_command`) and parsers (`parse_sign_response`,
`parse_provisioners`, `find_provisioner`, `certificate_facts`) are apart from the transport.
Nothing connects in check or diff (offline previews).
"""

from __future__ import annotations

import base64
import json
import secrets
import shlex
import time
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import DiffResult, UpdateResult

from dynamic_providers.preview import UNKNOWN
from dynamic_providers import https
from dynamic_providers.base import MammatusProvider

TOKEN_LIFETIME = 300


# ---------------------------------------------------------------- pure builders and parsers

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def build_token(key_pem: str, kid: str, issuer: str, audience: str, subject: str,
                sans: Optional[list[str]] = None, now: Optional[int] = None,
                jti: Optional[str] = None) -> str:
    """A step-ca one-time token: an ES256 JWT from a JWK provisioner (issuer = its name)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the provisioner key must be an ECDSA P-256 private key")
    now = int(time.time()) if now is None else now
    header = {"alg": "ES256", "kid": kid, "typ": "JWT"}
    claims = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now - 30,
              "exp": now + TOKEN_LIFETIME, "jti": jti or secrets.token_hex(16)}
    if sans is not None:
        claims["sans"] = list(sans)
    signing_input = ".".join(_b64url(json.dumps(p, separators=(",", ":")).encode())
                             for p in (header, claims))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def decode_token(token: str) -> tuple[dict, dict]:
    """(header, claims) of a JWT, unverified (for tests and diagnostics)."""
    def part(p: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    header, claims, _ = token.split(".")
    return part(header), part(claims)


def csr_names(csr_pem: str) -> tuple[str, list[str]]:
    """(common name, SANs as strings) of a PEM CSR: what the sign token must name."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else ""
    sans: list[str] = []
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [*ext.get_values_for_type(x509.DNSName),
                *(str(a) for a in ext.get_values_for_type(x509.IPAddress)),
                *ext.get_values_for_type(x509.RFC822Name),
                *ext.get_values_for_type(x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    return cn, sans or ([cn] if cn else [])


def sign_request(ca_url: str, csr_pem: str, token: str) -> dict:
    """The HTTP request (method, url, JSON body) step-ca signs a CSR with."""
    return {"method": "POST", "url": f"{ca_url.rstrip('/')}/1.0/sign",
            "body": {"csr": csr_pem, "ott": token}}


def revoke_request(ca_url: str, serial: str, token: str, reason: str = "") -> dict:
    return {"method": "POST", "url": f"{ca_url.rstrip('/')}/1.0/revoke",
            "body": {"serial": serial, "ott": token, "reasonCode": 0, "reason": reason,
                     "passive": True}}


def provisioners_request(ca_url: str) -> dict:
    return {"method": "GET", "url": f"{ca_url.rstrip('/')}/provisioners?limit=100", "body": None}


def certificate_facts(pem: str) -> dict:
    """Serial (decimal, as step-ca's revoke wants it), validity and SHA-256 fingerprint."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate(pem.encode())
    return {"serial": str(cert.serial_number),
            "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "fingerprint": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()}


def parse_sign_response(status: int, body: str) -> dict:
    """certificate_pem (leaf), chain_pem (intermediates) and the leaf's facts from /1.0/sign."""
    data = _json_or_error(status, body, "sign")
    chain = data.get("certChain") or [data["crt"], data["ca"]]
    leaf = chain[0]
    return {"certificate_pem": leaf, "chain_pem": "".join(chain[1:]), **certificate_facts(leaf)}


def parse_revoke_response(status: int, body: str) -> str:
    return _json_or_error(status, body, "revoke").get("status", "")


def parse_provisioners(status: int, body: str) -> list[dict]:
    return _json_or_error(status, body, "provisioners").get("provisioners", [])


def find_provisioner(provisioners: list[dict], type_: str, name: str) -> Optional[dict]:
    return next((p for p in provisioners
                 if p.get("name") == name and p.get("type", "").upper() == type_.upper()), None)


def _json_or_error(status: int, body: str, what: str) -> dict:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {"message": body.strip()[:200]}
    if status >= 300:
        raise RuntimeError(f"step-ca {what} failed ({status}): {data.get('message', data)}")
    return data


def upsert_provisioner(ca_json: str, provisioner: dict) -> str:
    """ca.json with `provisioner` added, or replacing the one of the same type and name."""
    config = json.loads(ca_json)
    authority = config.setdefault("authority", {})
    current = authority.get("provisioners") or []
    kept = [p for p in current if not _same(p, provisioner)]
    index = next((i for i, p in enumerate(current) if _same(p, provisioner)), len(kept))
    kept.insert(index, provisioner)
    authority["provisioners"] = kept
    return json.dumps(config, indent=2) + "\n"


def remove_provisioner(ca_json: str, type_: str, name: str) -> str:
    config = json.loads(ca_json)
    authority = config.setdefault("authority", {})
    authority["provisioners"] = [p for p in authority.get("provisioners") or []
                                 if not _same(p, {"type": type_, "name": name})]
    return json.dumps(config, indent=2) + "\n"


def _same(a: dict, b: dict) -> bool:
    return a.get("name") == b.get("name") and str(a.get("type")).upper() == str(b.get("type")).upper()


def reload_command(pid_file: Optional[str], unit: Optional[str]) -> str:
    """How step-ca is told to re-read ca.json: SIGHUP through systemd, or to its pid file;
    nothing when it is not started yet (it reads ca.json when it starts)."""
    if unit:
        return f"systemctl kill -s HUP {shlex.quote(unit)} || true"
    pid = shlex.quote(pid_file or "")
    return f'if [ -s {pid} ]; then kill -HUP "$(cat {pid})"; fi'


CERT_IMMUTABLE = ("csr_pem", "ca_url", "provisioner", "kid")
PROVISIONER_IMMUTABLE = ("type", "name", "config_path", "base_digest", "connection")


def check_certificate(news: dict) -> tuple[dict, list[CheckFailure]]:
    failures = []
    for key in ("ca_url", "csr_pem", "provisioner", "provisioner_key", "kid", "root_pem"):
        # Values not known yet (a preview) come through as non-strings: only absent or empty
        # values are errors.
        if key not in news or news[key] == "":
            failures.append(CheckFailure(key, f"{key} is required"))
    url = news.get("ca_url")
    if isinstance(url, str) and url != UNKNOWN and not url.startswith("https://"):
        failures.append(CheckFailure("ca_url", f"must be an https:// URL, got {url!r}"))
    csr = news.get("csr_pem")
    if isinstance(csr, str) and csr and csr != UNKNOWN and "CERTIFICATE REQUEST" not in csr:
        failures.append(CheckFailure("csr_pem", "must be a PEM certificate request"))
    return dict(news), failures


def check_provisioner(news: dict) -> tuple[dict, list[CheckFailure]]:
    failures = []
    inputs = dict(news)
    body = inputs.get("provisioner")
    if body == UNKNOWN:
        return inputs, failures
    if not isinstance(body, dict) or not body.get("type") or not body.get("name"):
        failures.append(CheckFailure("provisioner", "must be a dict with at least type and name"))
    else:
        inputs["type"], inputs["name"] = str(body["type"]).upper(), body["name"]
        if inputs["type"] not in ("JWK", "ACME", "OIDC", "X5C", "SSHPOP", "K8SSA", "NEBULA", "SCEP"):
            failures.append(CheckFailure("provisioner", f"unknown provisioner type {body['type']!r}"))
    path = inputs.get("config_path")
    if not isinstance(path, str) or not path.startswith("/"):
        failures.append(CheckFailure("config_path", f"must be an absolute path, got {path!r}"))
    return inputs, failures


# ---------------------------------------------------------------- HTTP (built per call)

def http(request: dict, root_pem: str) -> tuple[int, str]:
    """Sends a built request over TLS trusting only the cloud's root."""
    data = None if request["body"] is None else json.dumps(request["body"]).encode()
    return https.send(request["method"], request["url"], {"Content-Type": "application/json"},
                      data, root_pem)


CONNECT_PATIENCE = 90.0  # seconds a request keeps trying while step-ca (re)starts


def http_while_starting(build: Callable[[], dict], root_pem: str,
                        patience: float = CONNECT_PATIENCE, sleep=time.sleep) -> tuple[int, str]:
    """http() of a request that `build` makes afresh for each attempt (a one-time token each),
    retried while step-ca refuses or drops the connection: a unit that has just (re)started or
    is reloading after SIGHUP. An HTTP answer, even an error, is returned at once."""
    import ssl
    import urllib.error
    from http.client import HTTPException

    deadline = time.monotonic() + patience
    while True:
        try:
            return http(build(), root_pem)
        except (urllib.error.URLError, HTTPException, ConnectionError,
                TimeoutError) as err:
            if isinstance(err, urllib.error.URLError) and isinstance(
                    err.reason, ssl.SSLCertVerificationError):
                raise   # a certificate step-ca's root does not verify: no retry mends that
            if time.monotonic() > deadline:
                raise RuntimeError(f"step-ca did not answer within {patience:.0f} s: {err}") from err
            sleep(0.5)


# ---------------------------------------------------------------- providers

CERT_OUTPUTS = ("certificate_pem", "chain_pem", "serial", "not_before", "not_after", "fingerprint")
RENEW_AT = 2 / 3  # of a certificate's lifetime: `up` issues a new one from then on
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def due_for_renewal(outs: dict, now: Optional[float] = None) -> bool:
    """Whether two thirds of the certificate's lifetime have passed (step-ca's own renewal
    point): the services' certificates last 30 days, so an `up` at least every 20 days keeps
    every endpoint valid."""
    import calendar

    try:
        start, end = (calendar.timegm(time.strptime(outs[k], _TIME_FORMAT))
                      for k in ("not_before", "not_after"))
    except (KeyError, TypeError, ValueError):
        return False  # not issued yet (or a preview's unknowns)
    return (time.time() if now is None else now) >= start + RENEW_AT * (end - start)


class CertificateProvider(MammatusProvider):
    immutable = CERT_IMMUTABLE
    outputs = CERT_OUTPUTS
    target = ("host", "port")

    def check(self, _olds, news):
        inputs, failures = check_certificate(news)
        return CheckResult(inputs, failures)

    def diff(self, id_, olds, news):
        planned = super().diff(id_, olds, news)
        if not planned.replaces and due_for_renewal(olds):
            # A new certificate first, then the old one is revoked: the service never has none.
            return DiffResult(changes=True, replaces=["not_after"], delete_before_replace=False)
        return planned

    def create(self, props):
        cn, sans = csr_names(props["csr_pem"])
        url = props["ca_url"].rstrip("/")
        status, body = http_while_starting(lambda: sign_request(url, props["csr_pem"], build_token(
            props["provisioner_key"], props["kid"], props["provisioner"], f"{url}/1.0/sign",
            cn or sans[0], sans)), props["root_pem"])
        outs = {**props, **parse_sign_response(status, body)}
        return CreateResult(id_=outs["serial"], outs=outs)

    def read(self, id_, props):
        # step-ca has no public lookup by serial: the state's certificate is the truth; its
        # facts are re-derived so a hand-edited state shows as drift.
        if not props.get("certificate_pem"):
            return ReadResult(None, {})
        outs = {**props, **certificate_facts(props["certificate_pem"])}
        inputs = {k: v for k, v in outs.items() if k not in CERT_OUTPUTS}
        return ReadResult(id_, outs, inputs)

    def update(self, _id, olds, news):
        # Only the trust root or the signing key changed: the certificate stays.
        return UpdateResult(outs={**news, **{k: olds[k] for k in CERT_OUTPUTS if k in olds}})

    def delete(self, id_, props):
        url = props["ca_url"].rstrip("/")
        status, body = http_while_starting(lambda: revoke_request(url, id_, build_token(
            props["provisioner_key"], props["kid"], props["provisioner"], f"{url}/1.0/revoke",
            id_), "deleted by Pulumi"), props["root_pem"])
        if status >= 300 and "already" not in body:
            parse_revoke_response(status, body)


class ProvisionerProvider(MammatusProvider):
    immutable = PROVISIONER_IMMUTABLE
    target = ("host", "port")

    def check(self, _olds, news):
        inputs, failures = check_provisioner(news)
        return CheckResult(inputs, failures)

    def _apply(self, props: dict) -> dict:
        from dynamic_providers.transport import transport
        with transport(props.get("connection")) as t:
            text = t.read(props["config_path"])
            if text is None:
                raise RuntimeError(f"{props['config_path']} does not exist on the CA host")
            t.write(props["config_path"], upsert_provisioner(text, props["provisioner"]))
            t.run(reload_command(props.get("pid_file"), props.get("unit")))
        if props.get("ca_url") and props.get("root_pem") and props.get("wait", True):
            self._wait_listed(props)
        return dict(props)

    def _wait_listed(self, props: dict) -> None:
        last = None
        for _ in range(50):
            try:
                status, body = http(provisioners_request(props["ca_url"]), props["root_pem"])
                if find_provisioner(parse_provisioners(status, body), props["type"], props["name"]):
                    return
            except Exception as err:  # noqa: BLE001 - the CA may be restarting
                last = err
            time.sleep(0.2)
        raise RuntimeError(f"step-ca does not list provisioner {props['name']} ({last or 'not found'})")

    def create(self, props):
        outs = self._apply(props)
        return CreateResult(id_=f"{props['type']}/{props['name']}", outs=outs)

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._apply(news))

    def read(self, id_, props):
        from dynamic_providers.transport import transport
        with transport(props.get("connection")) as t:
            text = t.read(props["config_path"])
        found = None if text is None else find_provisioner(
            (json.loads(text).get("authority") or {}).get("provisioners") or [],
            props["type"], props["name"])
        if found is None:
            return ReadResult(None, {})
        outs = {**props, "provisioner": found}
        return ReadResult(id_, outs, outs)

    def delete(self, _id, props):
        from dynamic_providers.transport import transport
        with transport(props.get("connection")) as t:
            text = t.read(props["config_path"])
            if text is not None:
                t.write(props["config_path"], remove_provisioner(text, props["type"], props["name"]))
                t.run(reload_command(props.get("pid_file"), props.get("unit")))


class StepCaCertificate(pulumi.dynamic.Resource, module="mammatus", name="StepCaCertificate"):
    """A certificate signed by the cloud's step-ca for the CSR (key stays with the caller)."""
    certificate_pem: pulumi.Output[str]
    chain_pem: pulumi.Output[str]
    serial: pulumi.Output[str]
    not_after: pulumi.Output[str]
    fingerprint: pulumi.Output[str]

    def __init__(self, name: str, ca_url: pulumi.Input[str], root_pem: pulumi.Input[str],
                 csr_pem: pulumi.Input[str], provisioner: pulumi.Input[str],
                 provisioner_key: pulumi.Input[str], kid: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"ca_url": ca_url, "root_pem": root_pem, "csr_pem": csr_pem,
                 "provisioner": provisioner, "provisioner_key": provisioner_key, "kid": kid,
                 **{k: None for k in CERT_OUTPUTS}}
        super().__init__(CertificateProvider(), name, props, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["provisioner_key"])))


class StepCaProvisioner(pulumi.dynamic.Resource, module="mammatus", name="StepCaProvisioner"):
    """One provisioner in step-ca's ca.json (kept across rewrites of the base file)."""
    type: pulumi.Output[str]
    name: pulumi.Output[str]
    provisioner: pulumi.Output[Any]

    def __init__(self, resource_name: str, provisioner: pulumi.Input[dict], target: dict[str, Any],
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"provisioner": provisioner, "config_path": target["config_path"],
                 "base_digest": target.get("base_digest", ""),
                 "connection": target.get("connection"), "pid_file": target.get("pid_file"),
                 "unit": target.get("unit"), "ca_url": target.get("ca_url"),
                 "root_pem": target.get("root_pem"), "type": None, "name": None}
        super().__init__(ProvisionerProvider(), resource_name, props, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["connection"])))
