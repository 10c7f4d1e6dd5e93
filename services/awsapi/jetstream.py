"""A thin, explicit layer over the JetStream JSON API.

nats-py's higher-level helpers keep pull requests open after a caller has gone, which would leave
messages "delivered" to nobody until their ack wait expires. Here every pull is no_wait, and acks
are plain publishes to the reply subject, so any process can settle a message another received.
Requests and pulls wait for their replies on the connection's one reply subscription
(services/awsapi/inbox.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from .inbox import inbox

API = "$JS.API"


class JSError(Exception):
    def __init__(self, code: int, err_code: int, description: str):
        super().__init__(f"{code}/{err_code}: {description}")
        self.code = code
        self.err_code = err_code
        self.description = description


# JetStream error codes we branch on
STREAM_NOT_FOUND = 10059
CONSUMER_NOT_FOUND = 10014
MESSAGE_NOT_FOUND = 10037


async def api(nc: Client, subject: str, payload: dict | None = None, timeout: float = 5.0) -> dict:
    data = json.dumps(payload).encode() if payload is not None else b""
    msg = await inbox(nc).request(f"{API}.{subject}", data, timeout=timeout)
    resp = json.loads(msg.data)
    if "error" in resp:
        e = resp["error"]
        raise JSError(e.get("code", 0), e.get("err_code", 0), e.get("description", ""))
    return resp


@dataclass
class Delivered:
    """One message handed out by a consumer, decoded from its reply subject."""
    reply: str
    data: bytes
    subject: str
    stream_seq: int
    deliveries: int
    timestamp_ns: int

    @classmethod
    def from_msg(cls, msg: Msg) -> "Delivered":
        delivered, sseq, ts = reply_fields(msg.reply)
        return cls(msg.reply, msg.data, msg.subject, sseq, delivered, ts)


def reply_fields(reply: str) -> tuple[int, int, int]:
    """(delivery count, stream sequence, timestamp ns) of an ack subject:
    $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>  (v1), or
    $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<rnd>"""
    parts = reply.split(".")
    if len(parts) == 9:
        delivered, sseq, ts = parts[4], parts[5], parts[7]
    else:
        delivered, sseq, ts = parts[6], parts[7], parts[9]
    return int(delivered), int(sseq), int(ts)


def ack_stream(reply: str) -> str:
    parts = reply.split(".")
    return parts[2] if len(parts) == 9 else parts[4]


async def pull(nc: Client, stream: str, consumer: str, batch: int, timeout: float = 5.0) -> list[Msg]:
    """Fetch up to batch messages that are available now; never leaves a request waiting."""
    return await inbox(nc).pull(f"{API}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                                _pull_request(batch), batch, timeout=timeout)


_PULL_REQUESTS: dict[int, bytes] = {}


def _pull_request(batch: int) -> bytes:
    found = _PULL_REQUESTS.get(batch)
    if found is None:
        found = json.dumps({"batch": batch, "no_wait": True, "expires": 20_000_000}).encode()
        if len(_PULL_REQUESTS) < 1024:
            _PULL_REQUESTS[batch] = found
    return found


async def settle(nc: Client, reply: str, verb: bytes, timeout: float = 5.0) -> None:
    """Ack/nak/term a delivered message and wait for the server to confirm it."""
    await inbox(nc).request(reply, verb, timeout=timeout)


def nak_delay(seconds: float) -> bytes:
    if seconds <= 0:
        return b"-NAK"
    return b"-NAK " + json.dumps({"delay": int(seconds * 1e9)}).encode()


async def publish(nc: Client, subject: str, payload: bytes, msg_id: str | None = None,
                  timeout: float = 5.0) -> dict:
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    msg = await inbox(nc).request(subject, payload, timeout=timeout, headers=headers)
    resp = json.loads(msg.data)
    if "error" in resp:
        e = resp["error"]
        raise JSError(e.get("code", 0), e.get("err_code", 0), e.get("description", ""))
    return resp


async def ensure_stream(nc: Client, config: dict) -> dict:
    try:
        return await api(nc, f"STREAM.CREATE.{config['name']}", config)
    except JSError as e:
        if e.err_code != 10058:  # stream name already in use
            raise
        return await api(nc, f"STREAM.UPDATE.{config['name']}", config)


async def ensure_consumer(nc: Client, stream: str, config: dict) -> dict:
    name = config["durable_name"]
    try:
        return await api(nc, f"CONSUMER.CREATE.{stream}.{name}",
                         {"stream_name": stream, "config": config, "action": "create"})
    except JSError as e:
        if e.err_code != 10148:  # exists with another config: update what may change
            raise
        return await api(nc, f"CONSUMER.CREATE.{stream}.{name}",
                         {"stream_name": stream, "config": config, "action": "update"})


async def stream_info(nc: Client, stream: str, subjects_filter: str | None = None) -> dict:
    payload: dict[str, Any] | None = {"subjects_filter": subjects_filter} if subjects_filter else None
    return await api(nc, f"STREAM.INFO.{stream}", payload)


async def delete_stream(nc: Client, stream: str) -> None:
    try:
        await api(nc, f"STREAM.DELETE.{stream}")
    except JSError as e:
        if e.err_code != STREAM_NOT_FOUND:
            raise


async def purge(nc: Client, stream: str, subject: str | None = None) -> None:
    await api(nc, f"STREAM.PURGE.{stream}", {"filter": subject} if subject else {})


async def consumer_names(nc: Client, stream: str) -> list[str]:
    names: list[str] = []
    offset = 0
    while True:
        resp = await api(nc, f"CONSUMER.NAMES.{stream}", {"offset": offset})
        batch = resp.get("consumers") or []
        names.extend(batch)
        offset += len(batch)
        if not batch or offset >= resp.get("total", 0):
            return names


async def consumer_info(nc: Client, stream: str, name: str) -> dict:
    return await api(nc, f"CONSUMER.INFO.{stream}.{name}")


async def consumers(nc: Client, stream: str) -> dict[str, dict]:
    """name -> consumer info, for every consumer of the stream."""
    out: dict[str, dict] = {}
    offset = 0
    while True:
        resp = await api(nc, f"CONSUMER.LIST.{stream}", {"offset": offset})
        batch = resp.get("consumers") or []
        for info in batch:
            out[info["name"]] = info
        offset += len(batch)
        if not batch or offset >= resp.get("total", 0):
            return out


# The KV operations a key's last message may carry instead of a value: the key is gone.
_KV_GONE = {"DEL", "PURGE"}


async def kv_keys(nc: Client, bucket: str, timeout: float = 5.0) -> list[str]:
    """The keys of a KV bucket that hold a value, sorted.

    nats-py's `KeyValue.keys()` can answer an empty list for a full bucket: its end marker is put
    when the consumer reports nothing pending yet its callback has not seen a message, which a busy
    machine makes common. Here a pull consumer is created first, so its `num_pending` is exact
    before anything is delivered, and exactly that many messages are read."""
    stream, prefix = f"KV_{bucket}", f"$KV.{bucket}."
    created = await api(nc, f"CONSUMER.CREATE.{stream}", {"stream_name": stream, "config": {
        "deliver_policy": "last_per_subject", "ack_policy": "none", "headers_only": True,
        "filter_subject": prefix + ">", "mem_storage": True, "num_replicas": 1,
        "inactive_threshold": 30 * 10**9}}, timeout=timeout)
    name, pending = created["name"], created["num_pending"]
    keys: list[str] = []
    try:
        while pending > 0:
            batch = await pull(nc, stream, name, min(pending, 512), timeout=timeout)
            if not batch:
                raise nats.errors.TimeoutError
            pending -= len(batch)
            for msg in batch:
                headers = msg.headers or {}
                if headers.get("KV-Operation") in _KV_GONE or "Nats-Marker-Reason" in headers:
                    continue
                keys.append(msg.subject[len(prefix):])
    finally:
        try:
            await api(nc, f"CONSUMER.DELETE.{stream}.{name}", timeout=timeout)
        except Exception:  # noqa: BLE001 - its inactive_threshold removes it anyway
            pass
    return sorted(keys)
