"""FIFO deduplication that outlives a nats-server restart and never loses a message.

JetStream's own `Nats-Msg-Id` window is rebuilt after a restart only from the messages still
stored, so a FIFO message already consumed (acked, hence deleted from its work queue) would be
accepted again. And a marker written *before* the message is stored turns a failed store into a
"duplicate" on the client's retry: lost. So the order is: store the message (deduplicated by
JetStream while the server runs), then write a marker that says "done" and what the first send
answered; a retry first looks for that marker. A crash between the two may deliver twice (at
least once), never zero times.
"""

from __future__ import annotations

import base64
import json

from nats.aio.client import Client

from services.awsapi import jetstream as js


class DoneMarkers:
    """One file stream of markers, `<prefix>.<key>`, each kept for the deduplication window."""

    def __init__(self, nc: Client, stream: str, prefix: str, window_s: int, replicas: int = 1):
        self.nc = nc
        self.stream = stream
        self.prefix = prefix
        self.window_s = window_s
        self.replicas = replicas

    async def ensure(self) -> None:
        await js.ensure_stream(self.nc, {
            "name": self.stream, "subjects": [f"{self.prefix}.>"], "storage": "file",
            "num_replicas": self.replicas, "max_age": self.window_s * 10**9,
            "max_msgs_per_subject": 1, "duplicate_window": self.window_s * 10**9})

    async def seen(self, key: str) -> dict | None:
        """What the first, completed send answered, if one did within the window."""
        try:
            got = await js.api(self.nc, f"STREAM.MSG.GET.{self.stream}",
                               {"last_by_subj": f"{self.prefix}.{key}"})
        except js.JSError as e:
            if e.err_code in (js.MESSAGE_NOT_FOUND, js.STREAM_NOT_FOUND):
                return None
            raise
        return json.loads(base64.b64decode(got["message"]["data"]))

    async def mark(self, key: str, answer: dict) -> None:
        await js.publish(self.nc, f"{self.prefix}.{key}", json.dumps(answer).encode(),
                         msg_id=f"done:{key}")
