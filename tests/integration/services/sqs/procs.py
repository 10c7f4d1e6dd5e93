"""Run the SQS/SNS services as real processes for integration tests (stopped by PID)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support.daemons import stop as stop_process
from tests.support.nats import free_port, wait_for_port
from tests.support.paths import ROOT

ACCESS_KEY = "AKIDMAMMATUSTEST"
SECRET_KEY = "mammatus-test-secret"


def write_credentials(path: Path, extra: dict[str, str] | None = None) -> Path:
    lines = ["[default]", f"aws_access_key_id = {ACCESS_KEY}", f"aws_secret_access_key = {SECRET_KEY}"]
    for i, (akid, secret) in enumerate((extra or {}).items()):
        lines += [f"[profile p{i}]", f"aws_access_key_id = {akid}", f"aws_secret_access_key = {secret}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Service:
    def __init__(self, module: str, args: list[str], log_path: Path, port: int | None = None):
        self.module = module
        self.args = args
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Service":
        log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "--listen", f"127.0.0.1:{self.port}", *self.args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for_port(self.port, self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        stop_process(self.proc, sig)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def client(service: str, endpoint: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}, read_timeout=60))
