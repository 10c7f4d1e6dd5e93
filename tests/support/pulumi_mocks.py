"""Pulumi mocks for unit tests: records every registered resource so tests can assert on them."""

from __future__ import annotations

import pulumi


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "tls:index/privateKey:PrivateKey":
            outputs["publicKeyOpenssh"] = "ssh-ed25519 AAAAmock"
            outputs["privateKeyOpenssh"] = "-----BEGIN OPENSSH PRIVATE KEY-----mock"
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "x" * int(args.inputs.get("length", 16))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        return next(r for r in self.resources if r.name == name)
