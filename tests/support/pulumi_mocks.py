"""Pulumi mocks for unit tests: records every registered resource so tests can assert on them."""

from __future__ import annotations

import pulumi


SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def unsecret(value):
    """Inputs as the program gave them, with Pulumi's secret wrappers taken off."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == SECRET_SIG:
            return unsecret(value["value"])
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    return value


def _pki_outputs(args) -> dict:
    """Real PEMs for ECDSA keys and certificates, so code that parses them (JWKs,
    fingerprints) runs under mocks; a RandomId's and a RandomBytes' encodings."""
    from tests.support.pki import mock_pki
    pki = mock_pki()
    if args.typ == "tls:index/privateKey:PrivateKey" and args.inputs.get("algorithm") == "ECDSA":
        return {"privateKeyPem": pki.intermediate_key_pem, "publicKeyPem": pki.intermediate_public_pem}
    if args.typ in ("tls:index/selfSignedCert:SelfSignedCert",
                    "tls:index/locallySignedCert:LocallySignedCert"):
        return {"certPem": pki.root_pem if "selfSigned" in args.typ else pki.intermediate_pem}
    if args.typ == "tls:index/certRequest:CertRequest":
        return {"certRequestPem": "-----BEGIN CERTIFICATE REQUEST-----mock"}
    if args.typ == "random:index/randomBytes:RandomBytes":   # its own bytes for each name
        import base64
        import hashlib
        raw = hashlib.shake_256(args.name.encode()).digest(int(args.inputs.get("length", 8)))
        return {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
    if args.typ == "random:index/randomId:RandomId":
        import base64
        raw = bytes(range(int(args.inputs.get("byteLength", 8))))
        return {"b64Std": base64.b64encode(raw).decode(), "hex": raw.hex()}
    return {}


class RecordingMocks(pulumi.runtime.Mocks):
    """Installed per test module (tests/unit/components/conftest.py) or per build
    (tests/support/netlab.registered): each records only its own registrations."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "tls:index/privateKey:PrivateKey":
            outputs["publicKeyOpenssh"] = "ssh-ed25519 AAAAmock"
            outputs["privateKeyOpenssh"] = "-----BEGIN OPENSSH PRIVATE KEY-----mock"
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "x" * int(args.inputs.get("length", 16))
        if args.typ == "pulumi-python:dynamic/host:HostKeyPin":
            outputs["key"] = f"ssh-ed25519 AAAApinned-{args.inputs['host']}"
        outputs.update(_pki_outputs(args))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        # The most recent registration under that name.
        return next(r for r in reversed(self.resources) if r.name == name)

    def inputs(self, name: str) -> dict:
        """The plain inputs of the resource registered under `name`."""
        return unsecret(dict(self.named(name).inputs))


def resolved(value):
    """The plain value of an Output (or plain input) under mocks, for asserting on it."""
    box = {}

    @pulumi.runtime.test
    def run():
        return pulumi.Output.from_input(value).apply(lambda v: box.setdefault("v", v))
    run()
    return box["v"]
