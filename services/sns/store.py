"""Topics and subscriptions in JetStream KV, with caches kept current by KV watchers.

  KV sns-topics          topic name -> {"name", "attrs", "tags", "created"}
  KV sns-subscriptions   subscription id -> {"id", "topic", "protocol", "endpoint", "attrs",
                                             "confirmed", "token", "owner"}
  stream SNS_DELIVERY    one job per (message, subscription), subject snsd.<subscription id>;
                         Publish returns once every job is stored, delivery retries from there
  stream SNS_FIFO_SEQ    FIFO messages' claimed id and sequence number, subject snsseq.<key>
  stream SNS_DEDUP       FIFO messages published completely, subject snsdedup.<key> (5 minutes;
                         services/awsapi/dedup.py)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time

from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from services.awsapi import jetstream as js
from services.awsapi.dedup import DoneMarkers

log = logging.getLogger(__name__)

TOPICS = "sns-topics"
SUBS = "sns-subscriptions"
DELIVERY_STREAM = "SNS_DELIVERY"
DEDUP_STREAM = "SNS_DEDUP"
SEQ_STREAM = "SNS_FIFO_SEQ"
FIFO_WINDOW = 300  # seconds: SNS FIFO's deduplication interval


class SnsStore:
    def __init__(self, nc, region: str, account: str, replicas: int = 1):
        self.nc = nc
        self.jsc = nc.jetstream()
        self.region = region
        self.account = account
        self.replicas = replicas
        self.fifo_done = DoneMarkers(nc, DEDUP_STREAM, "snsdedup", FIFO_WINDOW, replicas)
        self.topics: dict[str, dict] = {}
        self.subs: dict[str, dict] = {}
        self._tasks: list[asyncio.Task] = []
        self._watchers = []

    async def _bucket(self, name: str):
        try:
            return await self.jsc.key_value(name)
        except BucketNotFoundError:
            try:
                return await self.jsc.create_key_value(bucket=name, history=1, storage="file",
                                                       replicas=self.replicas)
            except Exception:  # noqa: BLE001 - the bucket exists (or another process made it): open it
                return await self.jsc.key_value(name)

    async def start(self) -> None:
        self.kv_topics = await self._bucket(TOPICS)
        self.kv_subs = await self._bucket(SUBS)
        await js.ensure_stream(self.nc, {
            "name": DELIVERY_STREAM, "subjects": ["snsd.>"], "retention": "workqueue",
            "storage": "file", "num_replicas": self.replicas, "max_age": 14 * 86400 * 10**9,
            # a FIFO message published again after a half-way failure stores no job twice
            "duplicate_window": FIFO_WINDOW * 10**9})
        await js.ensure_consumer(self.nc, DELIVERY_STREAM, {
            # a job a dead process had in hand comes back after ack_wait; workers only pull what
            # they can start at once, and an http attempt times out well within it
            "durable_name": "deliver", "ack_policy": "explicit", "ack_wait": 20 * 10**9,
            "max_deliver": -1, "filter_subject": "snsd.>", "deliver_policy": "all",
            "max_ack_pending": 20000})
        await js.ensure_stream(self.nc, {
            "name": SEQ_STREAM, "subjects": ["snsseq.>"], "storage": "file",
            "num_replicas": self.replicas, "max_age": FIFO_WINDOW * 10**9,
            "max_msgs_per_subject": 1, "duplicate_window": FIFO_WINDOW * 10**9})
        await self.fifo_done.ensure()
        await self._start_watchers()

    async def _start_watchers(self) -> None:
        for kv, cache in ((self.kv_topics, self.topics), (self.kv_subs, self.subs)):
            w = await kv.watchall()
            self._watchers.append(w)
            self._tasks.append(asyncio.create_task(self._watch(w, cache)))

    async def resync(self) -> None:
        """After a reconnect the watchers' consumers are gone with the server: start new ones
        (they replay every key, delete markers included)."""
        for t in self._tasks:
            t.cancel()
        self._tasks, self._watchers = [], []
        for attempt in range(30):
            try:
                await self._start_watchers()
                return
            except Exception:  # noqa: BLE001 - NATS not ready yet: retried with a back-off
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for w in self._watchers:
            try:
                await w.stop()
            except Exception:  # noqa: BLE001 - stopping on shutdown: nothing left to do on failure
                pass

    @staticmethod
    async def _watch(watcher, cache: dict) -> None:
        async for entry in watcher:
            if entry is None:
                continue
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                cache.pop(entry.key, None)
            else:
                cache[entry.key] = json.loads(entry.value)

    # --- names ---------------------------------------------------------------------------------

    def topic_arn(self, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{name}"

    def sub_arn(self, sub: dict) -> str:
        return f"{self.topic_arn(sub['topic'])}:{sub['id']}"

    def topic_name(self, arn: str | None) -> str | None:
        parts = (arn or "").split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"]:
            return None
        return parts[5]

    # --- topics --------------------------------------------------------------------------------

    async def get_topic(self, name: str | None) -> dict | None:
        if not name:
            return None
        if name in self.topics:
            return self.topics[name]
        try:
            entry = await self.kv_topics.get(name)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        topic = json.loads(entry.value)
        self.topics[name] = topic
        return topic

    async def create_topic(self, name: str, attrs: dict, tags: dict) -> tuple[dict, bool]:
        topic = {"name": name, "attrs": attrs, "tags": tags, "created": int(time.time())}
        try:
            await self.kv_topics.create(name, json.dumps(topic).encode())
        except KeyWrongLastSequenceError:
            existing = await self.get_topic(name)
            if existing is None:
                existing = json.loads((await self.kv_topics.get(name)).value)
            return existing, False
        self.topics[name] = topic
        return topic, True

    async def put_topic(self, topic: dict) -> None:
        await self.kv_topics.put(topic["name"], json.dumps(topic).encode())
        self.topics[topic["name"]] = topic

    async def delete_topic(self, name: str) -> None:
        for sub in [s for s in await self.all_subs() if s["topic"] == name]:
            await self.delete_sub(sub["id"])
        try:
            await self.kv_topics.delete(name)
        except KeyNotFoundError:
            pass
        self.topics.pop(name, None)

    async def topic_names(self) -> list[str]:
        return await js.kv_keys(self.nc, TOPICS)

    # --- subscriptions -------------------------------------------------------------------------

    async def get_sub(self, sub_id: str) -> dict | None:
        if sub_id in self.subs:
            return self.subs[sub_id]
        try:
            entry = await self.kv_subs.get(sub_id)
        except (KeyNotFoundError, ValueError):
            return None
        if not entry.value:
            return None
        sub = json.loads(entry.value)
        self.subs[sub_id] = sub
        return sub

    async def put_sub(self, sub: dict) -> None:
        await self.kv_subs.put(sub["id"], json.dumps(sub).encode())
        self.subs[sub["id"]] = sub

    async def delete_sub(self, sub_id: str) -> None:
        try:
            await self.kv_subs.delete(sub_id)
        except KeyNotFoundError:
            pass
        self.subs.pop(sub_id, None)

    async def all_subs(self) -> list[dict]:
        keys = await js.kv_keys(self.nc, SUBS)
        out = []
        for k in keys:
            s = await self.get_sub(k)
            if s:
                out.append(s)
        return out

    def topic_subs(self, name: str) -> list[dict]:
        # the watcher-fed cache: Publish must not pay a KV scan
        return [s for s in self.subs.values() if s["topic"] == name]

    # --- delivery jobs -------------------------------------------------------------------------

    async def enqueue(self, sub_id: str, job: dict, msg_id: str | None = None) -> None:
        await js.publish(self.nc, f"snsd.{sub_id}", json.dumps(job).encode(), msg_id)

    @staticmethod
    def fifo_key(topic: str, dedup_id: str) -> str:
        return hashlib.sha256(f"{topic}\x00{dedup_id}".encode()).hexdigest()

    async def fifo_claim(self, key: str, msg_id: str) -> tuple[str, int, bool]:
        """(message id, sequence number, already published) of a FIFO topic message.

        A message whose first publish completed is a duplicate (services/awsapi/dedup.py). One
        whose first publish failed half way is published again under the same id and sequence
        number (JetStream deduplicates the claim and the jobs already stored)."""
        done = await self.fifo_done.seen(key)
        if done:
            return done["id"], done["seq"], True
        ack = await js.publish(self.nc, f"snsseq.{key}", json.dumps({"id": msg_id}).encode(), key)
        if ack.get("duplicate"):
            got = await js.api(self.nc, f"STREAM.MSG.GET.{SEQ_STREAM}", {"seq": ack["seq"]})
            msg_id = json.loads(base64.b64decode(got["message"]["data"]))["id"]
        return msg_id, ack["seq"], False
