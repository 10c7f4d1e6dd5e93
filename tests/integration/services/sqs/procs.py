"""Run the SQS/SNS services as real processes for integration tests (stopped by PID)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support.daemons import LoopbackDaemon
from tests.support.paths import ROOT

ACCESS_KEY = "AKIDMAMMATUSTEST"
SECRET_KEY = "mammatus-test-secret"


def write_credentials(path: Path, extra: dict[str, str] | None = None) -> Path:
    lines = ["[default]", f"aws_access_key_id = {ACCESS_KEY}", f"aws_secret_access_key = {SECRET_KEY}"]
    for i, (akid, secret) in enumerate((extra or {}).items()):
        lines += [f"[profile p{i}]", f"aws_access_key_id = {akid}", f"aws_secret_access_key = {secret}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Service(LoopbackDaemon):
    """`python -m services.<module> --listen 127.0.0.1:PORT …` from this checkout."""

    def __init__(self, module: str, args: list[str], log_path: Path, port: int | None = None,
                 scheme: str = "http"):
        super().__init__(port)
        self.module = module
        self.args = args
        self.log_path = log_path
        self.scheme = scheme   # "https" when args give --tls-cert and --tls-key

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--listen", f"127.0.0.1:{self.port}", *self.args]

    def log_file(self) -> str:
        return str(self.log_path)

    def popen_kwargs(self) -> dict:
        return {"cwd": ROOT, "env": dict(os.environ, PYTHONPATH=str(ROOT))}


def client(service: str, endpoint: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY,
           verify: str | bool | None = None):
    """`verify`: a CA bundle an https endpoint is checked against (None: the system's roots)."""
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, verify=verify,
                        config=Config(retries={"max_attempts": 1}, read_timeout=60))
