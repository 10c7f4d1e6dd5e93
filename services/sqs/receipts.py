"""Receipt handles: signed, and honoured only for the delivery they were given for.

A handle carries the JetStream ack subject of one delivery of a message (so any process can settle
it) and an HMAC over it, keyed by a secret every SQS process loads from NATS: a client cannot
forge a handle for a message it never received.

JetStream acks by stream sequence alone, so an ack sent with the subject of an earlier delivery
settles the message even after it went to another consumer. SQS keeps the message then: a stale
handle's DeleteMessage succeeds and deletes nothing. A standard queue never hands out a
redelivery: the message goes back into the queue under a new sequence (Store._move), so an
earlier holder's handle names a sequence that no longer exists, and a delete needs no lookup.
FIFO redeliveries keep their sequence (their place in the group), so each receive of one stamps
the delivery count it handed out in a memory stream (subject sqsrcpt.<queue id>.<stream seq>,
the last stamp per message kept; first deliveries need none); a handle whose count is not the
latest stamp is stale. The stamps live in memory, so they are lost when NATS restarts: a handle
from before a restart is then trusted as before this check (documented in docs/sqs.md).

A stamp is read with a direct get (the stream's own responder, no JSON API request) when the
stream has one replica; with more, a follower could answer a direct get with a stamp it has not
caught up on yet, so the stream leader's JSON API answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.js.errors import KeyWrongLastSequenceError, BucketNotFoundError

from services.awsapi import jetstream as js
from services.awsapi.errors import AwsError
from services.awsapi.inbox import inbox

STREAM = "SQS_RECEIPTS"
KEY_BUCKET = "sqs-service"
KEY_NAME = "receipt-handle-key"
MAC_BYTES = 16
STAMP_MAX_AGE = 13 * 3600  # beyond the longest visibility timeout (12 h)
# A stamp is ~100 bytes and lives while its message is in flight: 600k in flight at once; past
# that the oldest go first. Well within the deployed max_memory_store (256 MB).
STAMPS_MAX_BYTES = 64 * 1024 * 1024


def invalid_handle(handle: str) -> AwsError:
    return AwsError("ReceiptHandleIsInvalid",
                    f'The input receipt handle "{handle}" is not a valid receipt handle.',
                    query_code="ReceiptHandleIsInvalid")


@dataclass(frozen=True)
class Delivery:
    """One delivery of a message, as a receipt handle names it."""
    reply: str        # the JetStream ack subject
    stream_seq: int
    deliveries: int


def _delivery(reply: str) -> Delivery:
    deliveries, stream_seq, _ = js.reply_fields(reply)
    return Delivery(reply, stream_seq, deliveries)


class Receipts:
    def __init__(self, nc: Client, replicas: int = 1):
        self.nc = nc
        self.replicas = replicas
        self._key = b""

    async def start(self) -> None:
        await self._ensure_stream()
        self._key = await self._load_key()

    async def _ensure_stream(self) -> None:
        # In memory, so a restarted NATS has none: made again on the first stamp that misses it.
        await js.ensure_stream(self.nc, {
            "name": STREAM, "subjects": ["sqsrcpt.>"], "storage": "memory",
            "num_replicas": self.replicas, "max_msgs_per_subject": 1,
            "max_age": STAMP_MAX_AGE * 10**9, "max_bytes": STAMPS_MAX_BYTES, "discard": "old",
            "allow_direct": self._direct})

    @property
    def _direct(self) -> bool:
        return self.replicas == 1

    async def _load_key(self) -> bytes:
        jsc = self.nc.jetstream()
        try:
            kv = await jsc.key_value(KEY_BUCKET)
        except BucketNotFoundError:
            try:
                kv = await jsc.create_key_value(bucket=KEY_BUCKET, history=1, storage="file",
                                                replicas=self.replicas)
            except Exception:  # noqa: BLE001 - another process made it first: open it
                kv = await jsc.key_value(KEY_BUCKET)
        try:
            await kv.create(KEY_NAME, base64.b64encode(secrets.token_bytes(32)))
        except KeyWrongLastSequenceError:
            pass  # another process (or an earlier start) chose the key
        return base64.b64decode((await kv.get(KEY_NAME)).value)

    # --- handles -----------------------------------------------------------------------------------

    def _mac(self, qid: str, reply: str) -> str:
        return hmac.new(self._key, f"{qid} {reply}".encode(), hashlib.sha256).hexdigest()[:2 * MAC_BYTES]

    def handle(self, qid: str, reply: str) -> str:
        return base64.urlsafe_b64encode(f"{qid} {reply} {self._mac(qid, reply)}".encode()).decode()

    def parse(self, qid: str, stream: str, handle: str) -> Delivery:
        try:
            got_qid, reply, mac = base64.urlsafe_b64decode(handle.encode()).decode().split(" ")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise invalid_handle(handle) from None
        if not hmac.compare_digest(mac, self._mac(got_qid, reply)):
            raise invalid_handle(handle)
        # Signed by us, so well formed; it must still be for this queue.
        if got_qid != qid or js.ack_stream(reply) != stream:
            raise invalid_handle(handle)
        return _delivery(reply)

    # --- which delivery is current -----------------------------------------------------------------

    @staticmethod
    def _subject(qid: str, stream_seq: int) -> str:
        return f"sqsrcpt.{qid}.{stream_seq}"

    async def stamp(self, qid: str, deliveries: list[Delivery]) -> None:
        """Records the redeliveries just handed out; returns once NATS holds every stamp. A
        first delivery needs none: no earlier handle exists, and a message without a stamp was
        never handed out again (the common case costs no round trip)."""
        deliveries = [d for d in deliveries if d.deliveries > 1]
        if not deliveries:
            return

        async def all_of_them():
            await asyncio.gather(*(js.publish(self.nc, self._subject(qid, d.stream_seq),
                                              str(d.deliveries).encode()) for d in deliveries))
        try:
            await all_of_them()
        except nats.errors.NoRespondersError:
            await self._ensure_stream()
            await all_of_them()

    async def is_current(self, qid: str, d: Delivery) -> bool:
        subject = self._subject(qid, d.stream_seq)
        if self._direct:
            try:
                msg = await inbox(self.nc).request(f"{js.API}.DIRECT.GET.{STREAM}.{subject}")
            except nats.errors.NoRespondersError:
                pass  # no stream (NATS restarted) or no direct responder yet: the API tells
            else:
                status = msg.headers.get("Status") if msg.headers else None
                if status == "404":
                    return True  # no stamp (it aged out, or was never needed): trust the handle
                if status:
                    raise js.JSError(int(status), 0, msg.headers.get("Description", ""))
                return int(msg.data) == d.deliveries
        try:
            got = await js.api(self.nc, f"STREAM.MSG.GET.{STREAM}", {"last_by_subj": subject})
        except js.JSError as e:
            if e.err_code in (js.MESSAGE_NOT_FOUND, js.STREAM_NOT_FOUND):
                return True  # no stamp (NATS restarted, or it aged out): trust the handle
            raise
        return int(base64.b64decode(got["message"]["data"])) == d.deliveries

    async def forget(self, qid: str, d: Delivery) -> None:
        """Drops a settled message's stamp, if it had one; nobody waits for the answer."""
        if d.deliveries == 1:
            return
        await self.nc.publish(f"{js.API}.STREAM.PURGE.{STREAM}",
                              json.dumps({"filter": self._subject(qid, d.stream_seq)}).encode(),
                              reply=self.nc.new_inbox())
