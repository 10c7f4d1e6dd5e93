"""The real step-ca (tools/step-ca) with a rendered ca.json on loopback, for integration tests."""

from __future__ import annotations

import contextlib
import os
import ssl
import urllib.request
from dataclasses import dataclass
from typing import Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.render import step_ca as render
from tests.support.daemons import free_port, start, stop, wait_for
from tests.support.paths import built_tool
from tests.support.pki import TestPki, make_pki



@dataclass
class RunningCa:
    url: str
    pki: TestPki
    paths: render.StepCaPaths
    jwk: dict
    key_pem: str          # the JWK provisioner's private key
    pid_file: str
    log: str
    proc: object


@contextlib.contextmanager
def running_step_ca(root: str) -> Iterator[RunningCa]:
    step_ca_binary = built_tool("step-ca")
    pki = make_pki()
    paths = render.StepCaPaths().under(lambda p: root + p)
    for path, text in [(paths.root_cert, pki.root_pem), (paths.intermediate_cert, pki.intermediate_pem),
                       (paths.intermediate_key, pki.intermediate_key_pem)]:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    os.makedirs(paths.db_dir, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = render.jwk_from_public_pem(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    port = free_port()
    os.makedirs(os.path.dirname(paths.config), exist_ok=True)
    with open(paths.config, "w") as f:
        f.write(render.ca_config(paths, render.dns_names_for("ca.mammatus", "127.0.0.1"),
                                 [render.acme_provisioner(), render.jwk_provisioner(jwk)],
                                 address=f"127.0.0.1:{port}"))
    log = os.path.join(root, "step-ca.log")
    proc = start([step_ca_binary, paths.config], log, cwd=root)
    pid_file = os.path.join(root, "step-ca.pid")
    with open(pid_file, "w") as f:
        f.write(str(proc.pid))
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cadata=pki.root_pem)
    try:
        wait_for(lambda: urllib.request.urlopen(f"{url}/health", context=ctx).status == 200,
                 "step-ca /health", proc=proc, log=log)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        yield RunningCa(url, pki, paths, jwk, key_pem, pid_file, log, proc)
    finally:
        stop(proc)
