"""services/sqs/store.py against a real nats-server: a standard queue's redelivery goes back into
the queue under a new sequence (same id, body and attributes, its receive count carried), so a
first delivery's handle is settled with no stamp lookup and an earlier holder's deletes nothing;
a moved copy past the retention period is dropped, never handed out."""

import asyncio
import json
import time

import nats
import pytest

from services.awsapi import jetstream as js
from services.sqs.store import Store
from tests.support import aio

pytestmark = pytest.mark.integration


def run(url, body):
    async def main():
        nc = await nats.connect(url)
        store = Store(nc)
        await store.start(mover=False)
        try:
            return await body(store)
        finally:
            await store.close()
            await nc.close()
    return aio.run(main())


def seq_of(store, q, handle):
    return store.receipts.parse(q.id, q.stream, handle).stream_seq


def test_a_redelivery_is_a_new_sequence_and_the_old_handle_deletes_nothing(nats_server,
                                                                             monkeypatch):
    async def body(store):
        q = await store.create(f"moved-{time.monotonic_ns()}", {"VisibilityTimeout": "1"}, {})
        await store.send(q, "kept", {"k": {"DataType": "String", "StringValue": "v"}}, {}, 0,
                         None, None, "AKID")
        (first,) = await store.receive(q, 1, None, 0)
        await asyncio.sleep(1.3)  # its visibility ends: the next receive gets it again
        (second,) = await store.receive(q, 1, 30, 0)

        async def no_lookup(*args, **kwargs):
            raise AssertionError("a standard queue's delete read a stamp")
        monkeypatch.setattr(store.receipts, "is_current", no_lookup)
        await store.delete_message(q, first.handle)  # succeeds, deletes nothing
        still = (await js.stream_info(store.nc, q.stream))["state"]["messages"]
        await store.delete_message(q, second.handle)
        gone = (await js.stream_info(store.nc, q.stream))["state"]["messages"]
        return first, second, seq_of(store, q, first.handle), seq_of(store, q, second.handle), \
            still, gone

    first, second, seq1, seq2, still, gone = run(nats_server.url, body)
    assert (second.message_id, second.body, second.attrs) == (first.message_id, "kept", first.attrs)
    assert first.system["ApproximateReceiveCount"] == "1"
    assert second.system["ApproximateReceiveCount"] == "2"
    assert seq2 != seq1
    assert (still, gone) == (1, 0)


def test_a_moved_copy_past_the_retention_period_is_dropped(nats_server):
    async def body(store):
        q = await store.create(f"expired-{time.monotonic_ns()}", {"MessageRetentionPeriod": "60"},
                               {})
        old = {"i": "m-1", "b": "old", "m": "x", "t": int(time.time() * 1000) - 61_000, "r": 1}
        await js.publish(store.nc, q.subject(None), json.dumps(old).encode())
        got = await store.receive(q, 1, None, 0)
        left = (await js.stream_info(store.nc, q.stream))["state"]["messages"]
        return got, left

    got, left = run(nats_server.url, body)
    assert got == [] and left == 0


def test_fifo_redeliveries_keep_their_sequence_and_are_stamped(nats_server):
    async def body(store):
        q = await store.create(f"fifo-{time.monotonic_ns()}.fifo",
                               {"FifoQueue": "true", "VisibilityTimeout": "1"}, {})
        await store.send(q, "one", {}, {}, 0, "g", "d1", "AKID")
        (first,) = await store.receive(q, 1, None, 0)
        await asyncio.sleep(1.3)
        (second,) = await store.receive(q, 1, None, 0)
        stale = await store.receipts.is_current(
            q.id, store.receipts.parse(q.id, q.stream, first.handle))
        return seq_of(store, q, first.handle), seq_of(store, q, second.handle), stale

    seq1, seq2, stale = run(nats_server.url, body)
    assert seq1 == seq2 and stale is False  # the first holder's handle is stale by its stamp
