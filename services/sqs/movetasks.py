"""Message move tasks (dead-letter queue redrive): Start/List/CancelMessageMoveTask.

Task state lives in a KV bucket so every service process can list and cancel it; the moving runs
in the process that started the task. A task whose process died stays listed as RUNNING.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time

from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from services.awsapi.errors import AwsError, invalid_parameter
from . import attributes as qattrs
from services.awsapi import jetstream as js

log = logging.getLogger(__name__)
BUCKET = "sqs-move-tasks"


def _not_found(what: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"{what} does not exist.", status=404,
                    query_code="ResourceNotFoundException")


class MoveTasks:
    def __init__(self, store):
        self.store = store
        self._kv = None
        self._running: dict[str, asyncio.Task] = {}

    async def _bucket(self):
        if self._kv is None:
            jsc = self.store.nc.jetstream()
            try:
                self._kv = await jsc.key_value(BUCKET)
            except BucketNotFoundError:
                try:
                    self._kv = await jsc.create_key_value(bucket=BUCKET, history=1, storage="file",
                                                          replicas=self.store.replicas)
                except Exception:  # noqa: BLE001 - the bucket exists (or another process made it): open it
                    self._kv = await jsc.key_value(BUCKET)
        return self._kv

    async def _save(self, handle: str, state: dict) -> None:
        await (await self._bucket()).put(handle, json.dumps(state).encode())

    async def _load(self, handle: str) -> dict | None:
        try:
            entry = await (await self._bucket()).get(handle)
        except KeyNotFoundError:
            return None
        return json.loads(entry.value) if entry.value else None

    async def start(self, source_arn: str, dest_arn: str | None, rate: int | None) -> str:
        source = await self.store.get(qattrs.name_from_arn(source_arn) or "")
        if source is None:
            raise _not_found("The resource that you specified for the SourceArn parameter")
        if source.fifo:
            raise AwsError("UnsupportedOperation", "Message move tasks are not supported for FIFO queues.",
                           query_code="AWS.SimpleQueueService.UnsupportedOperation")
        dest = None
        if dest_arn:
            dest = await self.store.get(qattrs.name_from_arn(dest_arn) or "")
            if dest is None:
                raise _not_found("The resource that you specified for the DestinationArn parameter")
        for state in await self._all():
            if state["SourceArn"] == source_arn and state["Status"] == "RUNNING":
                raise invalid_parameter("There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
        visible, _, _ = await self.store.counts(source)
        handle = secrets.token_hex(16)
        state = {"TaskHandle": handle, "Status": "RUNNING", "SourceArn": source_arn,
                 "ApproximateNumberOfMessagesMoved": 0, "ApproximateNumberOfMessagesToMove": visible,
                 "StartedTimestamp": int(time.time() * 1000)}
        if dest_arn:
            state["DestinationArn"] = dest_arn
        if rate:
            state["MaxNumberOfMessagesPerSecond"] = rate
        await self._save(handle, state)
        self._running[handle] = asyncio.create_task(self._run(handle, state, source, dest, rate))
        return handle

    async def _run(self, handle, state, source, dest, rate) -> None:
        nc = self.store.nc
        try:
            while True:
                current = await self._load(handle)
                if current is None or current["Status"] != "RUNNING":
                    state["Status"] = "CANCELLED"
                    break
                started = time.monotonic()
                msgs = await js.pull(nc, source.stream, "c", min(rate or 10, 10))
                if not msgs:
                    state["Status"] = "COMPLETED"
                    break
                for m in msgs:
                    d = js.Delivered.from_msg(m)
                    env = json.loads(d.data)
                    target = dest or await self.store.get(qattrs.name_from_arn(env.get("src", "")) or "")
                    if target is None:  # original source gone: leave the message where it is
                        await nc.publish(d.reply, b"-NAK")
                        continue
                    env.pop("src", None)
                    env.pop("r", None)  # received afresh there
                    await js.publish(nc, target.subject(env.get("g")), json.dumps(env).encode(),
                                     f"mv:{source.id}:{d.stream_seq}")
                    await js.settle(nc, d.reply, b"+ACK")
                    state["ApproximateNumberOfMessagesMoved"] += 1
                await self._save(handle, state)
                if rate:
                    await asyncio.sleep(max(0.0, len(msgs) / rate - (time.monotonic() - started)))
        except Exception as e:  # keep the task listable with its failure
            log.exception("move task failed")
            state["Status"] = "FAILED"
            state["FailureReason"] = type(e).__name__
        await self._save(handle, state)

    async def cancel(self, handle: str) -> int:
        state = await self._load(handle)
        if state is None:
            raise _not_found("Task does not exist.")
        if state["Status"] != "RUNNING":
            raise AwsError("UnsupportedOperation", "Only active tasks can be cancelled.",
                           query_code="AWS.SimpleQueueService.UnsupportedOperation")
        state["Status"] = "CANCELLING"
        await self._save(handle, state)
        return state["ApproximateNumberOfMessagesMoved"]

    async def _all(self) -> list[dict]:
        await self._bucket()
        keys = await js.kv_keys(self.store.nc, BUCKET)
        out = []
        for k in keys:
            s = await self._load(k)
            if s:
                out.append(s)
        return out

    async def list(self, source_arn: str, limit: int) -> list[dict]:
        if await self.store.get(qattrs.name_from_arn(source_arn) or "") is None:
            raise _not_found("The resource that you specified for the SourceArn parameter")
        tasks = [t for t in await self._all() if t["SourceArn"] == source_arn]
        tasks.sort(key=lambda t: t["StartedTimestamp"], reverse=True)
        out = []
        for t in tasks[:limit]:
            t = dict(t)
            if t["Status"] != "RUNNING":
                t.pop("TaskHandle", None)
            out.append(t)
        return out
