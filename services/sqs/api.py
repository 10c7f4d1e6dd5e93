"""SQS actions: validate JSON-shaped parameters, call the store, shape the result."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from urllib.parse import urlsplit

from services.awsapi.errors import AwsError, invalid_parameter, missing_parameter
from services.awsapi.nats_store import answer_or_unavailable
from services.awsapi.server import Context
from . import attributes as qattrs
from .messages import (attributes_size, check_body, md5_hex, md5_of_attributes,
                       normalize_attributes, select_attributes)
from .movetasks import MoveTasks
from .store import Queue, Store, queue_does_not_exist

_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_TAG_KEY = re.compile(r"^.{1,128}$", re.S)


def _int(params: dict, name: str, lo: int, hi: int, default=None):
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Value {value} for parameter {name} is invalid. Reason: must be an integer.") from None
    if not lo <= n <= hi:
        raise invalid_parameter(f"Value {n} for parameter {name} is invalid. "
                                f"Reason: Must be between {lo} and {hi}, if provided.")
    return n


def _str(params: dict, name: str, required: bool = True) -> str | None:
    value = params.get(name)
    if value in (None, "") and required:
        raise missing_parameter(name)
    if value is not None and not isinstance(value, str):
        raise invalid_parameter(f"Value for parameter {name} must be a string.")
    return value


def _queue_name_from_url(url: str) -> str:
    path = urlsplit(url).path if "://" in url else url
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise queue_does_not_exist()
    return name


class SqsApi:
    def __init__(self, store: Store):
        self.store = store
        self.moves = MoveTasks(store)
        self._handlers = {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("do_")}

    async def dispatch(self, action: str, params: dict, ctx: Context) -> dict | None:
        handler = self._handlers.get(action)
        if handler is None:
            raise AwsError("InvalidAction", f"The action {action} is not valid for this endpoint.")
        return await answer_or_unavailable(handler(params, ctx))

    async def _queue(self, params: dict, ctx: Context) -> Queue:
        url = params.get("QueueUrl")
        if not url and ctx.path.count("/") >= 2:  # query protocol may post to the queue URL
            url = ctx.path
        if not url:
            raise missing_parameter("QueueUrl")
        return await self.store.require(_queue_name_from_url(url))

    def _url(self, ctx: Context, name: str) -> str:
        return self.store.url(ctx.host, name, ctx.scheme)

    # --- queues --------------------------------------------------------------------------------

    async def do_CreateQueue(self, p: dict, ctx: Context):
        name = _str(p, "QueueName")
        given = p.get("Attributes") or {}
        if not isinstance(given, dict):
            raise invalid_parameter("Attributes must be a map.")
        fifo = str(given.get("FifoQueue", "false")).lower() == "true"
        if "FifoQueue" in given and str(given["FifoQueue"]).lower() not in ("true", "false"):
            raise AwsError("InvalidAttributeValue", "Invalid value for the parameter FifoQueue.")
        qattrs.check_name(name, fifo or name.endswith(".fifo"))
        if name.endswith(".fifo") and not fifo:
            raise invalid_parameter("The name of a FIFO queue can only include alphanumeric characters, "
                                    "hyphens, or underscores, must end with .fifo suffix. "
                                    "Set FifoQueue to true to create a FIFO queue.")
        attrs = qattrs.validate(given, fifo, creating=True)
        await self._check_redrive(attrs)
        tags = p.get("tags") or p.get("Tags") or {}
        existing = await self.store.get(name)
        if existing is None:
            existing = await self.store.create(name, attrs, tags)
            created = True
        else:
            created = False
        if not created:
            for k, v in attrs.items():
                if existing.attrs.get(k, qattrs.defaults(existing.fifo).get(k)) != v:
                    raise AwsError("QueueNameExists",
                                   "A queue already exists with the same name and a different value "
                                   f"for attribute {k}", query_code="QueueAlreadyExists")
        return {"QueueUrl": self._url(ctx, name)}

    async def _check_redrive(self, attrs: dict) -> None:
        raw = attrs.get("RedrivePolicy")
        if raw:
            target = qattrs.name_from_arn(json.loads(raw)["deadLetterTargetArn"])
            if await self.store.get(target) is None:
                raise AwsError("InvalidParameterValue",
                               "Value " + raw + " for parameter RedrivePolicy is invalid. "
                               "Reason: Dead letter target does not exist.")

    async def do_DeleteQueue(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        await self.store.delete(q)
        return None

    async def do_GetQueueUrl(self, p: dict, ctx: Context):
        name = _str(p, "QueueName")
        await self.store.require(name)
        return {"QueueUrl": self._url(ctx, name)}

    async def do_ListQueues(self, p: dict, ctx: Context):
        prefix = _str(p, "QueueNamePrefix", required=False) or ""
        limit = _int(p, "MaxResults", 1, 1000)
        token = _str(p, "NextToken", required=False)
        names = [n for n in await self.store.names() if n.startswith(prefix)]
        if token:
            names = [n for n in names if n > token]
        out: dict = {}
        if limit is not None and len(names) > limit:
            names = names[:limit]
            out["NextToken"] = names[-1]
        elif limit is None:
            names = names[:1000]
        if names:
            out["QueueUrls"] = [self._url(ctx, n) for n in names]
        return out

    async def do_GetQueueAttributes(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        wanted = p.get("AttributeNames") or []
        if isinstance(wanted, str):
            wanted = [wanted]
        for n in wanted:
            if n != "All" and n not in qattrs.ALL:
                raise AwsError("InvalidAttributeName", f"Unknown Attribute {n}.")
        if not wanted:
            return {}
        every = "All" in wanted
        out = {}
        for k, v in q.attrs.items():
            if (every or k in wanted) and v != "":
                out[k] = v
        if every or "QueueArn" in wanted:
            out["QueueArn"] = self.store.arn(q.name)
        if every or "CreatedTimestamp" in wanted:
            out["CreatedTimestamp"] = str(q.created)
        if every or "LastModifiedTimestamp" in wanted:
            out["LastModifiedTimestamp"] = str(q.modified)
        counts = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                  "ApproximateNumberOfMessagesDelayed"}
        if every or counts & set(wanted):
            visible, inflight, delayed = await self.store.counts(q)
            for name, value in zip(sorted(counts), (visible, delayed, inflight), strict=True):
                if every or name in wanted:
                    out[name] = str(value)
        return {"Attributes": out}

    async def do_SetQueueAttributes(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        if "Attributes" not in p:
            raise missing_parameter("Attributes")
        attrs = qattrs.validate(p.get("Attributes") or {}, q.fifo, creating=False)
        await self._check_redrive(attrs)
        await self.store.update(q, attrs=attrs)
        return None

    async def do_PurgeQueue(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        await self.store.purge(q)
        return None

    async def do_TagQueue(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        tags = p.get("Tags")
        if not tags or not isinstance(tags, dict):
            raise missing_parameter("Tags")
        for k, v in tags.items():
            if not _TAG_KEY.match(k) or len(str(v)) > 256:
                raise invalid_parameter(f"Tag key or value for {k} is invalid.")
        if len(set(q.tags) | set(tags)) > 50:
            raise invalid_parameter("Too many tags added for queue; at most 50 tags are allowed.")
        await self.store.update(q, tags={k: str(v) for k, v in tags.items()})
        return None

    async def do_UntagQueue(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        keys = p.get("TagKeys")
        if not keys:
            raise missing_parameter("TagKeys")
        await self.store.update(q, untag=list(keys))
        return None

    async def do_ListQueueTags(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        return {"Tags": dict(q.tags)} if q.tags else {}

    async def do_ListDeadLetterSourceQueues(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        arn = self.store.arn(q.name)
        out = []
        for name in await self.store.names():
            other = await self.store.get(name)
            if other and other.redrive and other.redrive["deadLetterTargetArn"] == arn:
                out.append(self._url(ctx, name))
        limit = _int(p, "MaxResults", 1, 1000)
        result: dict = {"queueUrls": out[:limit] if limit else out}
        if limit and len(out) > limit:
            result["NextToken"] = out[limit - 1]
        return result

    # --- messages ------------------------------------------------------------------------------

    def _check_send(self, q: Queue, entry: dict) -> tuple:
        body = entry.get("MessageBody")
        if body is None or body == "":
            raise missing_parameter("MessageBody")
        check_body(body)
        attrs = normalize_attributes(entry.get("MessageAttributes"))
        system = normalize_attributes(entry.get("MessageSystemAttributes"), system=True)
        size = len(body.encode()) + attributes_size(attrs)
        limit = q.int_attr("MaximumMessageSize")
        if size > limit:
            raise invalid_parameter(f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.")
        delay = _int(entry, "DelaySeconds", 0, 900)
        group = entry.get("MessageGroupId")
        dedup = entry.get("MessageDeduplicationId")
        if q.fifo:
            if delay is not None and delay != 0:
                raise invalid_parameter(f"Value {delay} for parameter DelaySeconds is invalid. Reason: "
                                        "The request include parameter that is not valid for this queue type.")
            delay = q.int_attr("DelaySeconds")
            if not group:
                raise missing_parameter("MessageGroupId")
            if dedup is None:
                if q.attrs.get("ContentBasedDeduplication") != "true":
                    raise invalid_parameter("The queue should either have ContentBasedDeduplication enabled "
                                            "or MessageDeduplicationId provided explicitly")
                dedup = hashlib.sha256(body.encode()).hexdigest()
            for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
                if not isinstance(value, str) or not 1 <= len(value) <= 128 or \
                        not all(33 <= ord(c) <= 126 for c in value):
                    raise invalid_parameter(f"Value {value} for parameter {name} is invalid.")
        else:
            if dedup is not None:
                raise invalid_parameter(f"Value {dedup} for parameter MessageDeduplicationId is invalid. "
                                        "Reason: The request include parameter that is not valid for this queue type.")
            group = None  # fair-queue group ids are accepted and have no effect here
            if delay is None:
                delay = q.int_attr("DelaySeconds")
        return body, attrs, system, delay, group, dedup

    def _sent(self, body: str, attrs: dict, system: dict, msg_id: str, seq: int, fifo: bool) -> dict:
        out = {"MessageId": msg_id, "MD5OfMessageBody": md5_hex(body.encode())}
        if attrs:
            out["MD5OfMessageAttributes"] = md5_of_attributes(attrs)
        if system:
            out["MD5OfMessageSystemAttributes"] = md5_of_attributes(system)
        if fifo:
            out["SequenceNumber"] = str(seq).zfill(20)
        return out

    async def do_SendMessage(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        body, attrs, system, delay, group, dedup = self._check_send(q, p)
        msg_id, seq = await self.store.send(q, body, attrs, system, delay, group, dedup, ctx.access_key)
        return self._sent(body, attrs, system, msg_id, seq, q.fifo)

    def _entries(self, p: dict) -> list[dict]:
        entries = p.get("Entries")
        if not entries:
            raise AwsError("EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request.",
                           query_code="AWS.SimpleQueueService.EmptyBatchRequest")
        if len(entries) > 10:
            raise AwsError("TooManyEntriesInBatchRequest",
                           f"Maximum number of entries per request are 10. You have sent {len(entries)}.",
                           query_code="AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
        ids = [e.get("Id") for e in entries]
        for i in ids:
            if not isinstance(i, str) or not _BATCH_ID.match(i):
                raise AwsError("InvalidBatchEntryId",
                               "A batch entry id can only contain alphanumeric characters, hyphens and "
                               "underscores. It can be at most 80 letters long.",
                               query_code="AWS.SimpleQueueService.InvalidBatchEntryId")
        if len(set(ids)) != len(ids):
            raise AwsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.",
                           query_code="AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        return entries

    @staticmethod
    def _failure(entry_id: str, err: AwsError) -> dict:
        return {"Id": entry_id, "SenderFault": err.fault == "Sender", "Code": err.query_code,
                "Message": err.message}

    async def do_SendMessageBatch(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        entries = self._entries(p)
        total = sum(len(str(e.get("MessageBody", "")).encode()) for e in entries)
        if total > q.int_attr("MaximumMessageSize") and total > 1048576:
            raise AwsError("BatchRequestTooLong", "Batch requests cannot be longer than 1048576 bytes.",
                           query_code="AWS.SimpleQueueService.BatchRequestTooLong")
        ok, failed = [], []
        checked = []
        for e in entries:
            try:
                checked.append((e["Id"], self._check_send(q, e)))
            except AwsError as err:
                failed.append(self._failure(e["Id"], err))

        async def one(entry_id, args):
            body, attrs, system, delay, group, dedup = args
            msg_id, seq = await self.store.send(q, body, attrs, system, delay, group, dedup, ctx.access_key)
            return {"Id": entry_id, **self._sent(body, attrs, system, msg_id, seq, q.fifo)}

        if q.fifo:  # one after the other keeps the order within each group
            for entry_id, args in checked:
                ok.append(await one(entry_id, args))
        else:
            ok.extend(await asyncio.gather(*(one(i, a) for i, a in checked)))
        return {"Successful": ok, "Failed": failed}

    async def do_ReceiveMessage(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        max_n = _int(p, "MaxNumberOfMessages", 1, 10, 1)
        visibility = _int(p, "VisibilityTimeout", 0, 43200)
        wait = _int(p, "WaitTimeSeconds", 0, 20)
        if wait is None:
            wait = q.int_attr("ReceiveMessageWaitTimeSeconds")
        names = list(p.get("MessageSystemAttributeNames") or []) + list(p.get("AttributeNames") or [])
        attr_names = list(p.get("MessageAttributeNames") or [])
        received = await self.store.receive(q, max_n, visibility, wait)
        messages = []
        for r in received:
            m = {"MessageId": r.message_id, "ReceiptHandle": r.handle, "MD5OfBody": r.md5_body,
                 "Body": r.body}
            if names:
                every = "All" in names
                system = {k: v for k, v in r.system.items() if every or k in names}
                if system:
                    m["Attributes"] = system
            selected = select_attributes(r.attrs, attr_names)
            if selected:
                m["MessageAttributes"] = selected
                m["MD5OfMessageAttributes"] = md5_of_attributes(selected)
            messages.append(m)
        return {"Messages": messages} if messages else {}

    async def do_DeleteMessage(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        await self.store.delete_message(q, _str(p, "ReceiptHandle"))
        return None

    async def do_DeleteMessageBatch(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        entries = self._entries(p)

        async def one(e):
            try:
                await self.store.delete_message(q, _str(e, "ReceiptHandle"))
                return {"Id": e["Id"]}, None
            except AwsError as err:
                return None, self._failure(e["Id"], err)

        results = await asyncio.gather(*(one(e) for e in entries))
        return {"Successful": [r for r, _ in results if r], "Failed": [f for _, f in results if f]}

    async def do_ChangeMessageVisibility(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        handle = _str(p, "ReceiptHandle")
        if p.get("VisibilityTimeout") in (None, ""):
            raise missing_parameter("VisibilityTimeout")
        timeout = _int(p, "VisibilityTimeout", 0, 43200)
        await self.store.change_visibility(q, handle, timeout)
        return None

    async def do_ChangeMessageVisibilityBatch(self, p: dict, ctx: Context):
        q = await self._queue(p, ctx)
        entries = self._entries(p)

        async def one(e):
            try:
                if e.get("VisibilityTimeout") in (None, ""):
                    raise missing_parameter("VisibilityTimeout")
                await self.store.change_visibility(q, _str(e, "ReceiptHandle"),
                                                   _int(e, "VisibilityTimeout", 0, 43200))
                return {"Id": e["Id"]}, None
            except AwsError as err:
                return None, self._failure(e["Id"], err)

        results = await asyncio.gather(*(one(e) for e in entries))
        return {"Successful": [r for r, _ in results if r], "Failed": [f for _, f in results if f]}

    # --- dead-letter redrive -------------------------------------------------------------------

    async def do_StartMessageMoveTask(self, p: dict, ctx: Context):
        source = _str(p, "SourceArn")
        rate = _int(p, "MaxNumberOfMessagesPerSecond", 1, 500)
        handle = await self.moves.start(source, _str(p, "DestinationArn", required=False), rate)
        return {"TaskHandle": handle}

    async def do_CancelMessageMoveTask(self, p: dict, ctx: Context):
        moved = await self.moves.cancel(_str(p, "TaskHandle"))
        return {"ApproximateNumberOfMessagesMoved": moved}

    async def do_ListMessageMoveTasks(self, p: dict, ctx: Context):
        source = _str(p, "SourceArn")
        limit = _int(p, "MaxResults", 1, 10, 1)
        return {"Results": await self.moves.list(source, limit)}
