"""Mammatus' ``tls`` resource provider (the resources of pulumi_tls 5.x): PrivateKey,
SelfSignedCert, CertRequest, LocallySignedCert, built on the ``cryptography`` package.

Output formats follow the upstream (Terraform tls) provider: PKCS#1 / SEC1 / PKCS#8 PEM as
upstream, OpenSSH keys and "SHA256:..." / "aa:bb:..." fingerprints like Go's x/crypto/ssh (empty
for P224, which SSH does not support), certificates with a random 128-bit serial (also the ID),
RFC 3339 UTC validity times, ``readyForRenewal`` and renewal-by-replacement.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tools.providers._base import (
    UNKNOWN, CheckFailure, ProviderError, ProviderServicer, ResourceType,
    contains_unknown, serve)
from tools.providers._version import sdk_version

NAME = "tls"

ALGORITHMS = ("RSA", "ECDSA", "ED25519")
CURVES = {"P224": ec.SECP224R1, "P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}


def _one_of(news: dict, name: str, allowed) -> list[CheckFailure]:
    v = news.get(name)
    if v is None or v is UNKNOWN or v in allowed:
        return []
    return [CheckFailure(name, f"Attribute {name} value must be one of: "
                               f"[{' '.join(json.dumps(a) for a in allowed)}], got: {json.dumps(v)}")]


def hash_for_state(value: str) -> str:
    """Upstream's resource ID for keys and CSRs: sha1 hex of the trimmed PEM."""
    return hashlib.sha1(value.strip().encode(), usedforsecurity=False).hexdigest() if value else ""


# -- keys ---------------------------------------------------------------------------------------


def key_algorithm(key) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ECDSA"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ED25519"
    raise ProviderError(f"unsupported private key type {type(key).__name__}")


def parse_private_key(pem: str):
    data = pem.encode()
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            return serialization.load_ssh_private_key(data, password=None)
        return serialization.load_pem_private_key(data, password=None)
    except Exception as e:  # noqa: BLE001
        raise ProviderError(f"failed to decode private key PEM: {e}") from None


def _pem_wrap64(text: str) -> str:
    """Re-wrap a PEM-style armored block at 64 columns, like Go's encoding/pem."""
    lines = text.strip().splitlines()
    body = "".join(lines[1:-1])
    wrapped = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([lines[0], *wrapped, lines[-1]]) + "\n"


def _ssh_supported(key) -> bool:
    return not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP224R1))


def key_outputs(key) -> dict:
    """Every PrivateKey output for ``key``, formatted like upstream."""
    pub = key.public_key()
    alg = key_algorithm(key)
    if alg == "RSA":
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    elif alg == "ECDSA":
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    else:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    out = {
        "privateKeyPem": pem.decode(),
        "privateKeyPemPkcs8": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode(),
        "publicKeyPem": pub.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        "privateKeyOpenssh": "",
        "publicKeyOpenssh": "",
        "publicKeyFingerprintMd5": "",
        "publicKeyFingerprintSha256": "",
    }
    if _ssh_supported(key):
        openssh_priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                         serialization.NoEncryption()).decode()
        ssh_pub = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        blob = base64.b64decode(ssh_pub.split()[1])
        md5 = hashlib.md5(blob).hexdigest()  # noqa: S324 - the legacy fingerprint format
        out.update({
            "privateKeyOpenssh": _pem_wrap64(openssh_priv),
            "publicKeyOpenssh": ssh_pub + "\n",
            "publicKeyFingerprintMd5": ":".join(md5[i:i + 2] for i in range(0, len(md5), 2)),
            "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest())
            .decode().rstrip("="),
        })
    return out


def generate_key(algorithm: str, rsa_bits: int = 2048, ecdsa_curve: str = "P224"):
    if algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if algorithm == "ECDSA":
        return ec.generate_private_key(CURVES[ecdsa_curve]())
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ProviderError(f"unsupported algorithm {algorithm!r}")


KEY_OUTPUTS = {k: "string" for k in (
    "privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh", "publicKeyPem", "publicKeyOpenssh",
    "publicKeyFingerprintMd5", "publicKeyFingerprintSha256")}


class PrivateKey(ResourceType):
    token = "tls:index/privateKey:PrivateKey"
    inputs = {"algorithm": "string", "rsaBits": "integer", "ecdsaCurve": "string"}
    outputs = KEY_OUTPUTS
    required = ("algorithm",)
    secret_outputs = frozenset({"privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"})

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        inputs.setdefault("rsaBits", 2048)
        inputs.setdefault("ecdsaCurve", "P224")
        if inputs["rsaBits"] is None:
            inputs["rsaBits"] = 2048
        if inputs["ecdsaCurve"] is None:
            inputs["ecdsaCurve"] = "P224"
        failures += _one_of(inputs, "algorithm", ALGORITHMS)
        failures += _one_of(inputs, "ecdsaCurve", tuple(CURVES))
        bits = inputs.get("rsaBits")
        if bits is not UNKNOWN and (not isinstance(bits, int) or isinstance(bits, bool) or bits < 1024):
            failures.append(CheckFailure("rsaBits", f"Attribute rsaBits value must be at least 1024, got: {bits}"))
        return inputs, failures

    def create(self, name, inputs, preview):
        outs = dict(inputs)
        if preview:
            outs.update({k: UNKNOWN for k in self.outputs})
            return "", outs
        key = generate_key(inputs["algorithm"], inputs.get("rsaBits") or 2048, inputs.get("ecdsaCurve") or "P224")
        outs.update(key_outputs(key))
        return hash_for_state(outs["publicKeyPem"]), outs


# -- certificates -------------------------------------------------------------------------------

KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "cert_signing", "crl_signing", "encipher_only", "decipher_only")
EXT_KEY_USAGES = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec_end_system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft_server_gated_crypto": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}
ALLOWED_USES = KEY_USAGES + tuple(EXT_KEY_USAGES)

# Go's pkix.Name.ToRDNSequence order, then the e-mail address.
SUBJECT_FIELDS = (
    ("country", NameOID.COUNTRY_NAME), ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME), ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE), ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME), ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER), ("emailAddress", NameOID.EMAIL_ADDRESS),
)


def build_name(subject: dict | None) -> x509.Name:
    rdns = []
    for key, oid in SUBJECT_FIELDS:
        value = (subject or {}).get(key)
        if value in (None, "", []):
            continue
        for v in (value if isinstance(value, list) else [value]):
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, v)]))
    return x509.Name(rdns)


def build_sans(dns_names, ip_addresses, uris) -> list:
    sans: list = [x509.DNSName(d) for d in dns_names or []]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses or []]
    sans += [x509.UniformResourceIdentifier(u) for u in uris or []]
    return sans


def sign_hash(key):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())
    return hashes.SHA256()


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def ready_for_renewal(end: str, early_hours: int, now: dt.datetime | None = None) -> bool:
    now = now or now_utc()
    return now >= parse_rfc3339(end) - dt.timedelta(hours=early_hours or 0)


def _list_failures(inputs: dict, name: str, allowed=None, parse=None) -> list[CheckFailure]:
    v = inputs.get(name)
    if v is None or v is UNKNOWN:
        return []
    if not isinstance(v, list):
        return [CheckFailure(name, f"Attribute {name} must be a list")]
    failures = []
    for item in v:
        if item is UNKNOWN:
            continue
        if allowed is not None and item not in allowed:
            failures.append(CheckFailure(name, f"Attribute {name}[Value({json.dumps(item)})] value must be one "
                                               f"of: [{' '.join(json.dumps(a) for a in allowed)}], got: "
                                               f"{json.dumps(item)}"))
        if parse is not None:
            try:
                parse(item)
            except ValueError as e:
                failures.append(CheckFailure(name, f"Attribute {name} has an invalid value {item!r}: {e}"))
    return failures


class _Cert(ResourceType):
    """What self-signed and locally-signed certificates share."""

    outputs = {"certPem": "string", "validityStartTime": "string", "validityEndTime": "string",
               "readyForRenewal": "boolean"}
    cert_defaults = {"earlyRenewalHours": 0, "isCaCertificate": False, "setSubjectKeyId": False,
                     "maxPathLength": 0}
    #: changed in place (upstream only records it and recomputes readyForRenewal)
    in_place = frozenset({"earlyRenewalHours"})

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        for k, v in self.cert_defaults.items():
            if inputs.get(k) is None:
                inputs[k] = v
        failures += _list_failures(inputs, "allowedUses", ALLOWED_USES)
        hours = inputs.get("validityPeriodHours")
        if isinstance(hours, int) and hours < 0:
            failures.append(CheckFailure("validityPeriodHours",
                                         f"Attribute validityPeriodHours value must be at least 0, got: {hours}"))
        early = inputs.get("earlyRenewalHours")
        if isinstance(early, int) and early < 0:
            failures.append(CheckFailure("earlyRenewalHours",
                                         f"Attribute earlyRenewalHours value must be at least 0, got: {early}"))
        return inputs, failures

    def diff(self, id, olds, news, old_inputs):
        result = super().diff(id, olds, news, old_inputs)
        result.replaces = [k for k in result.replaces if k not in self.in_place]
        end = olds.get("validityEndTime")
        early = news.get("earlyRenewalHours")
        if isinstance(end, str) and end and not isinstance(early, type(UNKNOWN)) \
                and (olds.get("readyForRenewal") is True or ready_for_renewal(end, early or 0)):
            result.changes.append("readyForRenewal")
            result.replaces.append("readyForRenewal")
        return result

    def _template(self, inputs: dict, subject: x509.Name, public_key, sans: list, signer_key,
                  issuer: x509.Name, issuer_cert: x509.Certificate | None) -> x509.Certificate:
        start = now_utc()
        end = start + dt.timedelta(hours=inputs["validityPeriodHours"])
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
             .serial_number(secrets.randbits(128) or 1).not_valid_before(start).not_valid_after(end))
        uses = inputs.get("allowedUses") or []
        ku = {u: (u in uses) for u in KEY_USAGES}
        if any(ku.values()):
            if not ku["key_agreement"] and (ku["encipher_only"] or ku["decipher_only"]):
                raise ProviderError("allowedUses: encipher_only/decipher_only need key_agreement")
            kw = {("key_cert_sign" if u == "cert_signing" else "crl_sign" if u == "crl_signing" else u): v
                  for u, v in ku.items()}
            b = b.add_extension(x509.KeyUsage(**kw), critical=True)
        eku = [EXT_KEY_USAGES[u] for u in uses if u in EXT_KEY_USAGES]
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        is_ca = bool(inputs.get("isCaCertificate"))
        path_len = inputs.get("maxPathLength") or None
        b = b.add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_len if is_ca else None),
                            critical=True)
        ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
        if inputs.get("setSubjectKeyId") or is_ca:
            b = b.add_extension(ski, critical=False)
        if issuer_cert is not None:
            try:
                ca_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
                b = b.add_extension(x509.AuthorityKeyIdentifier(ca_ski.digest, None, None), critical=False)
            except x509.ExtensionNotFound:
                pass
        elif inputs.get("setAuthorityKeyId"):
            b = b.add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(signer_key, sign_hash(signer_key))

    def _cert_outputs(self, inputs: dict, cert: x509.Certificate) -> tuple[str, dict]:
        start, end = rfc3339(cert.not_valid_before_utc), rfc3339(cert.not_valid_after_utc)
        outs = dict(inputs)
        outs.update({
            "certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "validityStartTime": start,
            "validityEndTime": end,
            "readyForRenewal": ready_for_renewal(end, inputs.get("earlyRenewalHours") or 0),
        })
        return str(cert.serial_number), outs

    def _preview(self, inputs: dict, extra: dict) -> tuple[str, dict]:
        outs = dict(inputs)
        outs.update({k: UNKNOWN for k in self.outputs})
        outs.update(extra)
        return "", outs

    def update(self, id, olds, news, old_inputs, preview):
        outs = dict(olds)
        outs.update(news)
        for write_only in ("privateKeyPemWo", "caPrivateKeyPemWo"):  # never stored
            outs.pop(write_only, None)
        if outs.get("validityEndTime"):
            outs["readyForRenewal"] = ready_for_renewal(outs["validityEndTime"], news.get("earlyRenewalHours") or 0)
        return outs

    def read(self, id, state, inputs):
        outs = dict(state)
        if outs.get("validityEndTime"):
            outs["readyForRenewal"] = ready_for_renewal(outs["validityEndTime"], outs.get("earlyRenewalHours") or 0)
        return id, outs, inputs


def _private_key_input(inputs: dict, name: str = "privateKeyPem") -> str:
    pem = inputs.get(name) or inputs.get(name + "Wo")
    if not pem:
        raise ProviderError(f"{name} is required")
    return pem


class SelfSignedCert(_Cert):
    token = "tls:index/selfSignedCert:SelfSignedCert"
    inputs = {"privateKeyPem": "string", "privateKeyPemWo": "string", "privateKeyPemWoVersion": "integer",
              "subject": "object", "validityPeriodHours": "integer", "allowedUses": "array",
              "dnsNames": "array", "ipAddresses": "array", "uris": "array", "earlyRenewalHours": "integer",
              "isCaCertificate": "boolean", "setSubjectKeyId": "boolean", "setAuthorityKeyId": "boolean",
              "maxPathLength": "integer"}
    outputs = {**_Cert.outputs, "keyAlgorithm": "string"}
    required = ("allowedUses", "validityPeriodHours")
    cert_defaults = {**_Cert.cert_defaults, "setAuthorityKeyId": False}
    secret_outputs = frozenset({"privateKeyPem", "privateKeyPemWo"})

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        if inputs.get("privateKeyPem") is None and inputs.get("privateKeyPemWo") is None:
            failures.append(CheckFailure("privateKeyPem", "Exactly one of privateKeyPem or privateKeyPemWo "
                                                          "must be set"))
        failures += _list_failures(inputs, "ipAddresses", parse=ipaddress.ip_address)
        return inputs, failures

    def create(self, name, inputs, preview):
        if preview or contains_unknown(inputs):
            if not preview:
                raise ProviderError(f"{self.token}: inputs are not known")
            return self._preview(inputs, {})
        key = parse_private_key(_private_key_input(inputs))
        subject = build_name(inputs.get("subject"))
        sans = build_sans(inputs.get("dnsNames"), inputs.get("ipAddresses"), inputs.get("uris"))
        cert = self._template(inputs, subject, key.public_key(), sans, key, subject, None)
        id_, outs = self._cert_outputs(inputs, cert)
        outs["keyAlgorithm"] = key_algorithm(key)
        outs.pop("privateKeyPemWo", None)  # write-only: never stored
        return id_, outs


class CertRequest(ResourceType):
    token = "tls:index/certRequest:CertRequest"
    inputs = {"privateKeyPem": "string", "subject": "object", "dnsNames": "array", "ipAddresses": "array",
              "uris": "array"}
    outputs = {"certRequestPem": "string", "keyAlgorithm": "string"}
    required = ("privateKeyPem",)
    secret_outputs = frozenset({"privateKeyPem"})

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        failures += _list_failures(inputs, "ipAddresses", parse=ipaddress.ip_address)
        return inputs, failures

    def create(self, name, inputs, preview):
        outs = dict(inputs)
        if preview or contains_unknown(inputs):
            if not preview:
                raise ProviderError(f"{self.token}: inputs are not known")
            outs.update({k: UNKNOWN for k in self.outputs})
            return "", outs
        key = parse_private_key(inputs["privateKeyPem"])
        b = x509.CertificateSigningRequestBuilder().subject_name(build_name(inputs.get("subject")))
        sans = build_sans(inputs.get("dnsNames"), inputs.get("ipAddresses"), inputs.get("uris"))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        csr = b.sign(key, sign_hash(key))
        pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        outs.update({"certRequestPem": pem, "keyAlgorithm": key_algorithm(key)})
        return hash_for_state(pem), outs


class LocallySignedCert(_Cert):
    token = "tls:index/locallySignedCert:LocallySignedCert"
    inputs = {"certRequestPem": "string", "caCertPem": "string", "caPrivateKeyPem": "string",
              "caPrivateKeyPemWo": "string", "caPrivateKeyPemWoVersion": "integer",
              "validityPeriodHours": "integer", "allowedUses": "array", "earlyRenewalHours": "integer",
              "isCaCertificate": "boolean", "setSubjectKeyId": "boolean", "maxPathLength": "integer"}
    outputs = {**_Cert.outputs, "caKeyAlgorithm": "string"}
    required = ("allowedUses", "caCertPem", "certRequestPem", "validityPeriodHours")
    secret_outputs = frozenset({"caPrivateKeyPem", "caPrivateKeyPemWo"})

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        if inputs.get("caPrivateKeyPem") is None and inputs.get("caPrivateKeyPemWo") is None:
            failures.append(CheckFailure("caPrivateKeyPem", "Exactly one of caPrivateKeyPem or "
                                                            "caPrivateKeyPemWo must be set"))
        return inputs, failures

    def create(self, name, inputs, preview):
        if preview or contains_unknown(inputs):
            if not preview:
                raise ProviderError(f"{self.token}: inputs are not known")
            return self._preview(inputs, {})
        ca_key = parse_private_key(_private_key_input(inputs, "caPrivateKeyPem"))
        try:
            ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
        except ValueError as e:
            raise ProviderError(f"failed to decode caCertPem: {e}") from None
        try:
            csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
        except ValueError as e:
            raise ProviderError(f"failed to decode certRequestPem: {e}") from None
        if not csr.is_signature_valid:
            raise ProviderError("certRequestPem: the request's signature is invalid")
        try:
            sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        cert = self._template(inputs, csr.subject, csr.public_key(), sans, ca_key, ca_cert.subject, ca_cert)
        id_, outs = self._cert_outputs(inputs, cert)
        outs["caKeyAlgorithm"] = key_algorithm(ca_key)
        outs.pop("caPrivateKeyPemWo", None)
        return id_, outs


RESOURCES = (PrivateKey(), SelfSignedCert(), CertRequest(), LocallySignedCert())


def get_public_key(args: dict, preview: bool, secret_args: set):
    """tls:index/getPublicKey:getPublicKey — the public forms of a private key (PEM or OpenSSH)."""
    pem, openssh = args.get("privateKeyPem"), args.get("privateKeyOpenssh")
    if bool(pem) == bool(openssh):
        return {}, [CheckFailure("privateKeyPem", "Exactly one of privateKeyPem or privateKeyOpenssh "
                                                  "must be set")], ()
    key = parse_private_key(pem or openssh)
    outs = key_outputs(key)
    result = {k: outs[k] for k in ("publicKeyPem", "publicKeyOpenssh", "publicKeyFingerprintMd5",
                                   "publicKeyFingerprintSha256")}
    result.update(algorithm=key_algorithm(key), id=hash_for_state(outs["publicKeyPem"]))
    if pem:
        result["privateKeyPem"] = pem
    else:
        result["privateKeyOpenssh"] = openssh
    return result, [], ("privateKeyPem", "privateKeyOpenssh")


FUNCTIONS = {"tls:index/getPublicKey:getPublicKey": get_public_key}


def make_servicer() -> ProviderServicer:
    return ProviderServicer(NAME, sdk_version("pulumi_tls"), RESOURCES, functions=FUNCTIONS)


def main() -> None:
    serve(make_servicer())


if __name__ == "__main__":
    main()
