"""Queues and messages kept in JetStream; no state in the process beyond caches.

Layout (qid is a random id given at creation, so a re-created queue never sees old messages):
  KV bucket sqs-queues        queue name -> {"id", "attrs", "tags", ...}
  stream SQS_<qid>            the queue's messages, work-queue retention (an ack deletes),
                              subject sqs.<qid>.m.s (standard) or sqs.<qid>.m.g.<group hash> (FIFO)
  consumer "c"                standard queues: one pull consumer, ack wait = VisibilityTimeout
  consumer "g<group hash>"    FIFO queues: one per message group with max_ack_pending 1, which is
                              exactly "no second message of a group in flight while one is"
  stream SQS_DEDUP            FIFO sends completed in the last 5 minutes, subject sqsdedup.<qid>.<id>
                              (so deduplication outlives a NATS restart: services/awsapi/dedup.py)
  stream SQS_RECEIPTS         the delivery each in-flight message was last handed out for (memory)
  stream SQS_DELAYED          messages with DelaySeconds, subject sqsdelay.<qid>; any service process
                              moves them into their queue when due (consumer "mover")

A receipt handle carries the JetStream ack subject, so any process can delete the message or change
its visibility (a NAK with delay is precisely "invisible for N more seconds"); it is signed, and
honoured only for the latest delivery (services/sqs/receipts.py): a standard queue's redelivery is
put back as a new message with its receive count in the envelope ("r"), a FIFO one is stamped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, BucketNotFoundError

from services.awsapi.errors import AwsError, invalid_parameter, service_unavailable
from services.awsapi.protocol import new_request_id as new_uuid
from services.awsapi.nats_store import NATS_UNAVAILABLE
from . import attributes as qattrs
from services.awsapi import jetstream as js
from services.awsapi.dedup import DoneMarkers
from . import receipts
from .receipts import Receipts
from .messages import md5_hex, md5_of_attributes

log = logging.getLogger(__name__)

KV_BUCKET = "sqs-queues"
DELAY_STREAM = "SQS_DELAYED"
DEDUP_STREAM = "SQS_DEDUP"  # FIFO sends completed within the window (services/awsapi/dedup.py)
DEDUP_WINDOW = 300  # seconds: SQS's FIFO deduplication interval
FIFO_IDLE_CONSUMER = 13 * 3600  # beyond the longest visibility timeout (12 h)
POLL_TICK = 0.5  # long polls re-check this often for messages whose visibility expired
MOVE_ROUNDS = 4  # pulls per receive while redeliveries are moved (Store._move)


def queue_does_not_exist() -> AwsError:
    return AwsError("QueueDoesNotExist", "The specified queue does not exist.",
                    query_code="AWS.SimpleQueueService.NonExistentQueue")


def not_available_for_visibility_change(handle: str) -> AwsError:
    # AWS's answer for a handle whose message was deleted or received again since.
    return invalid_parameter(f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message "
                             "does not exist or is not available for visibility timeout change.")


@dataclass
class Queue:
    name: str
    id: str
    attrs: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    created: int = 0
    modified: int = 0
    revision: int = 0

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    @property
    def stream(self) -> str:
        return f"SQS_{self.id}"

    @property
    def subjects(self) -> str:
        return f"sqs.{self.id}.m.>"

    def subject(self, group: str | None) -> str:
        if self.fifo:
            return f"sqs.{self.id}.m.g.{group_hash(group or '')}"
        return f"sqs.{self.id}.m.s"

    def int_attr(self, name: str) -> int:
        return int(self.attrs.get(name, qattrs.INTS[name][2]))

    @property
    def redrive(self) -> dict | None:
        raw = self.attrs.get("RedrivePolicy")
        return json.loads(raw) if raw else None

    def to_json(self) -> bytes:
        return json.dumps({"name": self.name, "id": self.id, "attrs": self.attrs, "tags": self.tags,
                           "created": self.created, "modified": self.modified}).encode()

    @classmethod
    def from_json(cls, data: bytes, revision: int = 0) -> "Queue":
        d = json.loads(data)
        return cls(d["name"], d["id"], d["attrs"], d.get("tags", {}), d.get("created", 0),
                   d.get("modified", 0), revision)


def group_hash(group: str) -> str:
    return hashlib.sha256(group.encode()).hexdigest()[:32]


@dataclass
class Received:
    message_id: str
    handle: str
    body: str
    md5_body: str
    attrs: dict
    md5_attrs: str | None
    system: dict[str, str]


class Store:
    def __init__(self, nc: Client, region: str = "us-east-1", account: str = "000000000000",
                 replicas: int = 1):
        self.nc = nc
        self.js = nc.jetstream()
        self.region = region
        self.account = account
        self.replicas = replicas
        self.kv = None
        self.receipts = Receipts(nc, replicas)
        self.dedup = DoneMarkers(nc, DEDUP_STREAM, "sqsdedup", DEDUP_WINDOW, replicas)
        self._cache: dict[str, Queue] = {}
        self._consumers: set[tuple[str, str]] = set()
        self._tasks: list[asyncio.Task] = []
        self._closing = False

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, mover: bool = True) -> None:
        await self.receipts.start()
        await self.dedup.ensure()
        try:
            self.kv = await self.js.key_value(KV_BUCKET)
        except BucketNotFoundError:
            try:
                self.kv = await self.js.create_key_value(bucket=KV_BUCKET, history=1,
                                                         storage="file", replicas=self.replicas)
            except Exception:  # noqa: BLE001 - another process won the race
                self.kv = await self.js.key_value(KV_BUCKET)
        await js.ensure_stream(self.nc, {
            "name": DELAY_STREAM, "subjects": ["sqsdelay.>"], "retention": "workqueue",
            "storage": "file", "num_replicas": self.replicas, "max_age": 86400 * 10**9,
            "duplicate_window": DEDUP_WINDOW * 10**9, "discard": "old"})
        await js.ensure_consumer(self.nc, DELAY_STREAM, {
            "durable_name": "mover", "ack_policy": "explicit", "ack_wait": 30 * 10**9,
            "max_deliver": -1, "filter_subject": "sqsdelay.>", "deliver_policy": "all",
            "max_ack_pending": 100000})
        self._watcher = await self.kv.watchall()
        self._watch_task = asyncio.create_task(self._watch())
        if mover:
            self._tasks.append(asyncio.create_task(self._mover()))

    async def resync(self) -> None:
        """After a reconnect: the old watcher's consumer died with the server, start a new one
        (it replays every key, delete markers included, so the cache catches up)."""
        self._watch_task.cancel()
        for attempt in range(30):
            try:
                self._watcher = await self.kv.watchall()
                break
            except Exception:  # noqa: BLE001 - NATS not ready yet: retried with a back-off
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))
        else:
            self._cache.clear()  # no watcher: fall back to reading KV on every lookup
            return
        self._consumers.clear()
        self._watch_task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        self._closing = True
        self._tasks.append(self._watch_task)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping on shutdown: each task's end is all we wait for
                pass
        try:
            await self._watcher.stop()
        except Exception:  # noqa: BLE001 - stopping on shutdown: nothing left to do on failure
            pass

    async def _watch(self) -> None:
        # Keeps the metadata cache in step with other processes' changes.
        async for entry in self._watcher:
            if entry is None:
                continue
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                self._cache.pop(entry.key, None)
            else:
                q = Queue.from_json(entry.value, entry.revision)
                cur = self._cache.get(q.name)
                if cur is None or cur.revision <= q.revision:
                    self._cache[q.name] = q

    # --- queue metadata ------------------------------------------------------------------------

    def url(self, host: str, name: str, scheme: str = "http") -> str:
        return f"{scheme}://{host}/{self.account}/{name}"

    def arn(self, name: str) -> str:
        return qattrs.arn(self.region, self.account, name)

    async def get(self, name: str, fresh: bool = False) -> Queue | None:
        if not fresh and name in self._cache:
            return self._cache[name]
        try:
            entry = await self.kv.get(name)
        except KeyNotFoundError:
            self._cache.pop(name, None)
            return None
        if not entry.value:
            return None
        q = Queue.from_json(entry.value, entry.revision)
        self._cache[name] = q
        return q

    async def require(self, name: str) -> Queue:
        q = await self.get(name)
        if q is None:
            raise queue_does_not_exist()
        return q

    async def names(self) -> list[str]:
        return await js.kv_keys(self.nc, KV_BUCKET)

    async def create(self, name: str, attrs: dict[str, str], tags: dict[str, str]) -> Queue:
        now = int(time.time())
        full = qattrs.defaults(name.endswith(".fifo"))
        full.update(attrs)
        q = Queue(name, secrets.token_hex(8), full, dict(tags), now, now)
        await self._ensure_stream(q)
        try:
            q.revision = await self.kv.create(name, q.to_json())
        except KeyWrongLastSequenceError:
            await js.delete_stream(self.nc, q.stream)
            existing = await self.get(name, fresh=True)
            if existing is None:
                raise AwsError("QueueDeletedRecently", "You must wait 60 seconds after deleting a queue "
                               "before you can create another with the same name.",
                               query_code="AWS.SimpleQueueService.QueueDeletedRecently") from None
            return existing
        except Exception:
            await js.delete_stream(self.nc, q.stream)
            raise
        self._cache[name] = q
        return q

    async def _ensure_stream(self, q: Queue) -> None:
        retention = q.int_attr("MessageRetentionPeriod")
        await js.ensure_stream(self.nc, {
            "name": q.stream, "subjects": [q.subjects], "retention": "workqueue",
            "storage": "file", "num_replicas": self.replicas, "discard": "old",
            "max_age": retention * 10**9,
            "duplicate_window": min(DEDUP_WINDOW, retention) * 10**9})
        if not q.fifo:
            await self._ensure_consumer(q, "c", f"sqs.{q.id}.m.s")

    async def _ensure_consumer(self, q: Queue, name: str, subject: str, force: bool = False) -> None:
        key = (q.stream, name)
        if key in self._consumers and not force:
            return
        config = {
            "durable_name": name, "ack_policy": "explicit", "deliver_policy": "all",
            "ack_wait": max(q.int_attr("VisibilityTimeout") * 10**9, 10**8),
            "max_deliver": -1, "filter_subject": subject, "replay_policy": "instant",
            "max_ack_pending": 1 if q.fifo else 120000, "max_waiting": 4096}
        if q.fifo:
            config["inactive_threshold"] = FIFO_IDLE_CONSUMER * 10**9
        await js.ensure_consumer(self.nc, q.stream, config)
        self._consumers.add(key)

    async def update(self, q: Queue, attrs: dict[str, str] | None = None,
                     tags: dict[str, str] | None = None, untag: list[str] | None = None) -> Queue:
        for _ in range(20):  # optimistic concurrency against other processes
            cur = await self.get(q.name, fresh=True)
            if cur is None or cur.id != q.id:
                raise queue_does_not_exist()
            if attrs:
                cur.attrs.update(attrs)
                cur.attrs = {k: v for k, v in cur.attrs.items() if v != "" or k not in ("RedrivePolicy", "Policy", "RedriveAllowPolicy")}
                cur.modified = int(time.time())
            if tags:
                cur.tags.update(tags)
            for k in untag or []:
                cur.tags.pop(k, None)
            try:
                cur.revision = await self.kv.update(cur.name, cur.to_json(), last=cur.revision)
            except KeyWrongLastSequenceError:
                continue
            self._cache[cur.name] = cur
            if attrs and ("VisibilityTimeout" in attrs or "MessageRetentionPeriod" in attrs):
                await self._ensure_stream(cur)
                for name in await js.consumer_names(self.nc, cur.stream):
                    subject = f"sqs.{cur.id}.m.s" if name == "c" else f"sqs.{cur.id}.m.g.{name[1:]}"
                    await self._ensure_consumer(cur, name, subject, force=True)
            return cur
        raise AwsError("RequestThrottled", "Too many concurrent updates", status=403)

    async def delete(self, q: Queue) -> None:
        await self.kv.delete(q.name)
        self._cache.pop(q.name, None)
        await js.delete_stream(self.nc, q.stream)
        await js.purge(self.nc, DELAY_STREAM, f"sqsdelay.{q.id}")

    async def purge(self, q: Queue) -> None:
        try:
            await js.purge(self.nc, q.stream)
        except js.JSError as e:
            if e.err_code == js.STREAM_NOT_FOUND:
                raise queue_does_not_exist() from None
            raise
        await js.purge(self.nc, DELAY_STREAM, f"sqsdelay.{q.id}")

    async def counts(self, q: Queue) -> tuple[int, int, int]:
        """(visible, in flight, delayed), approximate as in SQS."""
        try:
            info = await js.stream_info(self.nc, q.stream)
            total = info["state"]["messages"]
            inflight = 0
            for name in await js.consumer_names(self.nc, q.stream):
                try:
                    inflight += (await js.consumer_info(self.nc, q.stream, name))["num_ack_pending"]
                except js.JSError:
                    pass
            d = await js.stream_info(self.nc, DELAY_STREAM, f"sqsdelay.{q.id}")
            delayed = sum((d["state"].get("subjects") or {}).values())
        except js.JSError:
            return 0, 0, 0
        return max(total - inflight, 0), inflight, delayed

    # --- messages ------------------------------------------------------------------------------

    async def send(self, q: Queue, body: str, attrs: dict, system: dict, delay: int,
                   group: str | None, dedup: str | None, sender: str,
                   source_arn: str | None = None) -> tuple[str, int]:
        """Store one message; returns (MessageId, sequence). The publish is acknowledged by
        JetStream (on disk) before this returns."""
        msg_id = new_uuid()
        env = {"i": msg_id, "b": body, "m": md5_hex(body.encode()), "t": int(time.time() * 1000),
               "k": sender}
        if attrs:
            env["a"] = attrs
        if system:
            env["y"] = system
        if group is not None and q.fifo:
            env["g"] = group
        if dedup is not None:
            env["d"] = dedup
        if source_arn:
            env["src"] = source_arn
        nats_id = None
        if q.fifo and dedup is not None:
            scope = q.attrs.get("DeduplicationScope", "queue")
            nats_id = f"{group}\x00{dedup}" if scope == "messageGroup" else dedup
            nats_id = hashlib.sha256(nats_id.encode()).hexdigest()
            first = await self.dedup.seen(f"{q.id}.{nats_id}")
            if first:  # sent (and perhaps consumed) within the window: accepted, not stored
                return first["id"], first["seq"]
        subject = q.subject(group)
        marker = f"{q.id}.{nats_id}" if nats_id else None
        try:
            if delay > 0:
                env["v"] = time.time() + delay
                env["to"] = subject
                if nats_id:
                    nats_id = f"{q.id}:{nats_id}"
                ack = await js.publish(self.nc, f"sqsdelay.{q.id}", json.dumps(env).encode(), nats_id)
            else:
                ack = await js.publish(self.nc, subject, json.dumps(env).encode(), nats_id)
        except nats.errors.NoRespondersError:
            raise await self._why_no_responders(q) from None
        if ack.get("duplicate") and marker:
            first = await self.dedup.seen(marker)  # the first send's marker may be on its way
            msg_id = first["id"] if first else msg_id
        elif marker:
            await self.dedup.mark(marker, {"id": msg_id, "seq": ack["seq"]})
        if q.fifo:
            await self._ensure_consumer(q, "g" + group_hash(group or ""), subject)
        return msg_id, ack["seq"]

    async def _why_no_responders(self, q: Queue) -> Exception:
        """Nobody stored a publish: the queue's stream is gone (deleted meanwhile), or JetStream
        itself is not answering; only the first is QueueDoesNotExist."""
        try:
            await js.stream_info(self.nc, q.stream)
        except js.JSError as e:
            if e.err_code == js.STREAM_NOT_FOUND:
                return queue_does_not_exist()
        except NATS_UNAVAILABLE:
            pass
        return service_unavailable()

    @staticmethod
    def _stamped(q: Queue, d: receipts.Delivery) -> bool:
        """Whether the handle's delivery may have a later one only a stamp tells of: FIFO
        redeliveries keep their sequence (and their place in the group); a standard queue's are
        moved (_move), so a first delivery's sequence is current until it is gone. A standard
        handle for a later delivery was given before redeliveries were moved."""
        return q.fifo or d.deliveries > 1

    async def delete_message(self, q: Queue, handle: str) -> None:
        d = self.receipts.parse(q.id, q.stream, handle)
        if self._stamped(q, d) and not await self.receipts.is_current(q.id, d):
            return  # an earlier delivery's handle: SQS answers success and keeps the message
        try:
            await js.settle(self.nc, d.reply, b"+ACK")
        except nats.errors.NoRespondersError:
            return  # the queue's consumer went with the queue: nothing is left to delete
        await self.receipts.forget(q.id, d)

    async def change_visibility(self, q: Queue, handle: str, timeout: int) -> None:
        d = self.receipts.parse(q.id, q.stream, handle)
        current = (await self.receipts.is_current(q.id, d) if self._stamped(q, d)
                   else await self._stored(q, d.stream_seq))
        if not current:
            raise not_available_for_visibility_change(handle)
        try:
            await js.settle(self.nc, d.reply, js.nak_delay(timeout))
        except nats.errors.NoRespondersError:
            raise not_available_for_visibility_change(handle) from None

    async def _stored(self, q: Queue, stream_seq: int) -> bool:
        """The sequence is still in the queue's stream (not deleted, not moved since)."""
        try:
            await js.api(self.nc, f"STREAM.MSG.GET.{q.stream}", {"seq": stream_seq})
        except js.JSError as e:
            if e.err_code in (js.MESSAGE_NOT_FOUND, js.STREAM_NOT_FOUND):
                return False
            raise
        return True

    async def receive(self, q: Queue, max_messages: int, visibility: int | None,
                      wait: float) -> list[Received]:
        deadline = time.monotonic() + wait
        wake = None
        try:
            while True:
                out = await self._receive_once(q, max_messages, visibility)
                remaining = deadline - time.monotonic()
                if out or remaining <= 0 or self._closing:
                    return out
                if wake is None:  # publishes to the queue's subjects wake a long poll early
                    wake = await self.nc.subscribe(q.subjects)
                    continue
                try:
                    await wake.next_msg(timeout=min(POLL_TICK, remaining))
                    while True:  # drain so one wake-up per burst
                        await wake.next_msg(timeout=0.001)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    pass
                if await self.get(q.name) is None:
                    return []
        finally:
            if wake is not None:
                await wake.unsubscribe()

    async def _receive_once(self, q: Queue, max_messages: int, visibility: int | None) -> list[Received]:
        out: list[Received] = []
        handed_out: list[js.Delivered] = []
        try:
            for _ in range(MOVE_ROUNDS):  # moved redeliveries are pulled again at once
                msgs = await self._pull(q, max_messages - len(out))
                moved = await self._take(q, msgs, visibility, out, handed_out)
                if not moved or len(out) >= max_messages:
                    break
            # Before any handle leaves: a delete that follows at once must see its stamp.
            await self.receipts.stamp(q.id, [receipts.Delivery(d.reply, d.stream_seq, d.deliveries)
                                             for d in handed_out])
        except BaseException:
            # Nobody gets these handles: make the messages visible again, not hidden for a while.
            for d in handed_out:
                await self.nc.publish(d.reply, js.nak_delay(0))
            raise
        return out

    async def _pull(self, q: Queue, max_messages: int):
        if q.fifo:
            return await self._pull_fifo(q, max_messages)
        try:
            return await js.pull(self.nc, q.stream, "c", max_messages)
        except nats.errors.NoRespondersError:
            return []

    async def _take(self, q: Queue, msgs: list, visibility: int | None, out: list[Received],
                    handed_out: list[js.Delivered]) -> int:
        """Appends what `msgs` hand out to `out`; returns how many redeliveries were moved."""
        redrive = q.redrive
        now_ms = int(time.time() * 1000)
        retention_ms = q.int_attr("MessageRetentionPeriod") * 1000
        changed = False
        moved = 0
        for m in msgs:
            d = js.Delivered.from_msg(m)
            env = json.loads(d.data)
            if not q.fifo and d.deliveries > 1:
                await self._move(q, d, env, now_ms - env["t"] >= retention_ms)
                moved += 1
                continue
            if "r" in env and now_ms - env["t"] >= retention_ms:
                await js.settle(self.nc, d.reply, b"+ACK")  # a moved copy past the retention
                continue
            count = d.deliveries + env.get("r", 0)
            if redrive and count > redrive["maxReceiveCount"]:
                if await self._to_dead_letter(q, redrive, d, env):
                    continue
            if visibility is not None and visibility != q.int_attr("VisibilityTimeout"):
                await self.nc.publish(d.reply, js.nak_delay(visibility))
                changed = True
            system = {
                "SenderId": env.get("k", ""),
                "SentTimestamp": str(env["t"]),
                "ApproximateReceiveCount": str(count),
                "ApproximateFirstReceiveTimestamp": str(now_ms if count == 1 else env["t"]),
            }
            if q.fifo:
                system["MessageGroupId"] = env.get("g", "")
                system["MessageDeduplicationId"] = env.get("d", "")
                system["SequenceNumber"] = str(d.stream_seq).zfill(20)
            if "src" in env:
                system["DeadLetterQueueSourceArn"] = env["src"]
            for k, v in (env.get("y") or {}).items():
                system[k] = v.get("StringValue", "")
            attrs = env.get("a") or {}
            out.append(Received(env["i"], self.receipts.handle(q.id, d.reply), env["b"], env["m"],
                                attrs, md5_of_attributes(attrs), system))
            handed_out.append(d)
        if changed:
            await self.nc.flush()
        return moved

    async def _move(self, q: Queue, d: js.Delivered, env: dict, expired: bool) -> None:
        """A standard queue's redelivery is never handed out: the message goes back into the queue
        as a new one (its id, body and attributes, the receive count so far in the envelope) and
        this sequence is settled. A handle is thus only ever given for a first delivery, and an
        earlier holder's handle names a sequence that is gone once the message is received
        again: its DeleteMessage deletes nothing, with no stamp to read (see receipts.py)."""
        if not expired:
            # Every earlier delivery of this sequence was a receive (but one whose move failed).
            copy = dict(env, r=env.get("r", 0) + d.deliveries - 1)
            try:  # the id makes a second move of this sequence (its ack was lost) a duplicate
                await js.publish(self.nc, q.subject(None), json.dumps(copy).encode(),
                                 f"rcv:{q.id}:{d.stream_seq}")
            except (nats.errors.NoRespondersError, js.JSError):
                return  # not moved: redelivered again after its ack wait, and moved then
        await js.settle(self.nc, d.reply, b"+ACK")

    async def _pull_fifo(self, q: Queue, max_messages: int):
        try:
            info = await js.stream_info(self.nc, q.stream, f"sqs.{q.id}.m.g.>")
            known = await js.consumers(self.nc, q.stream)
        except js.JSError:
            return []
        subjects = list((info["state"].get("subjects") or {}).keys())
        if subjects:  # a rotating start keeps busy groups from starving the others
            start = secrets.randbelow(len(subjects))
            subjects = subjects[start:] + subjects[:start]
        free, busy = [], []
        for subject in subjects:
            name = "g" + subject.rsplit(".", 1)[1]
            ci = known.get(name)
            if ci is None:
                self._consumers.discard((q.stream, name))
                await self._ensure_consumer(q, name, subject)
                free.append(name)
            elif ci["num_ack_pending"] == 0:
                free.append(name)
            else:  # in flight, unless its visibility just expired: only a pull can tell
                busy.append(name)
        out = []
        for name in free:
            if len(out) >= max_messages:
                return out
            out.extend(await self._pull_one(q, name))
        # Never more pulls at once than messages still wanted, so nothing is over-fetched.
        while busy and len(out) < max_messages:
            take, busy = busy[:max_messages - len(out)], busy[max_messages - len(out):]
            for got in await asyncio.gather(*(self._pull_one(q, n) for n in take)):
                out.extend(got)
        return out

    async def _pull_one(self, q: Queue, name: str):
        try:
            return await js.pull(self.nc, q.stream, name, 1)
        except nats.errors.NoRespondersError:
            self._consumers.discard((q.stream, name))
            return []

    async def _to_dead_letter(self, q: Queue, redrive: dict, d: js.Delivered, env: dict) -> bool:
        dlq = await self.get(qattrs.name_from_arn(redrive["deadLetterTargetArn"]) or "")
        if dlq is None:
            return False  # like SQS: without a dead-letter queue the message stays
        env = dict(env)
        env["src"] = self.arn(q.name)
        env.pop("v", None)
        env.pop("r", None)  # received afresh there
        subject = dlq.subject(env.get("g"))
        try:
            await js.publish(self.nc, subject, json.dumps(env).encode(), f"rd:{q.id}:{d.stream_seq}")
        except (nats.errors.NoRespondersError, js.JSError):
            return False
        if dlq.fifo:
            await self._ensure_consumer(dlq, "g" + group_hash(env.get("g", "")), subject)
        await js.settle(self.nc, d.reply, b"+ACK")
        return True

    async def _mover(self) -> None:
        """Moves delayed messages into their queues when due; runs in every process."""
        wake = await self.nc.subscribe("sqsdelay.>")
        while not self._closing:
            try:
                msgs = await js.pull(self.nc, DELAY_STREAM, "mover", 256)
                now = time.time()
                for m in msgs:
                    d = js.Delivered.from_msg(m)
                    env = json.loads(d.data)
                    if env["v"] > now:
                        await self.nc.publish(d.reply, js.nak_delay(env["v"] - now))
                        continue
                    target = env.pop("to")
                    try:
                        await js.publish(self.nc, target, json.dumps(env).encode(), f"dly:{d.stream_seq}")
                    except nats.errors.NoRespondersError:
                        pass  # queue deleted meanwhile
                    await self.nc.publish(d.reply, b"+ACK")
                    # (a FIFO group's consumer is created by the next receive that sees the group)
                if msgs:
                    await self.nc.flush()
                    continue
                try:
                    await wake.next_msg(timeout=POLL_TICK)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delay mover")
                await asyncio.sleep(1)
