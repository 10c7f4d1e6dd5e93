"""services/awsapi/inbox.py against a real nats-server: answers reach their request through the
one reply subscription (the nats-py hook it relies on), pulls through reused subscriptions, and
what a caller gave up on is made visible again."""

import asyncio
import json

import nats
import pytest

from services.awsapi import jetstream as js
from services.awsapi.inbox import inbox
from tests.support import aio
from tests.support.nats import NatsServer


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


def run(url, body):
    async def main():
        nc = await nats.connect(url)
        try:
            return await body(nc)
        finally:
            await nc.close()
    return aio.run(main())


async def _queue(nc, stream, ack_wait_s=30):
    await js.ensure_stream(nc, {"name": stream, "subjects": [f"{stream}.m"], "storage": "file",
                                "retention": "workqueue"})
    await js.ensure_consumer(nc, stream, {"durable_name": "c", "ack_policy": "explicit",
                                          "ack_wait": ack_wait_s * 10**9, "max_deliver": -1})


def _pull_request(batch):
    return json.dumps({"batch": batch, "no_wait": True, "expires": 20_000_000}).encode()


def test_concurrent_requests_each_get_their_own_answer(nats_server):
    async def body(nc):
        async def echo(msg):
            await nc.publish(msg.reply, b"re:" + msg.data)
        await nc.subscribe("echo", cb=echo)
        answers = await asyncio.gather(*(inbox(nc).request("echo", str(i).encode()) for i in range(200)))
        return [a.data for a in answers], len(nc._subs)

    answers, subs = run(nats_server.url, body)
    assert answers == [f"re:{i}".encode() for i in range(200)]
    assert subs == 2  # the echo service and the one reply subscription: none per request


def test_no_responders_and_timeouts_are_nats_pys_errors(nats_server):
    async def body(nc):
        with pytest.raises(nats.errors.NoRespondersError):
            await inbox(nc).request("nobody.listens")
        await nc.subscribe("silent")  # listens, never answers
        with pytest.raises(nats.errors.TimeoutError):
            await inbox(nc).request("silent", timeout=0.2)
        return inbox(nc)._waiting

    assert run(nats_server.url, body) == {}  # nothing left waiting


def test_bytes_handed_over_are_not_counted_as_pending(nats_server):
    # nats-py counts a message's bytes in when it queues it; the hook counts them out again, or
    # the reply subscription would look like a slow consumer after 64 MB of answers.
    async def body(nc):
        async def big(msg):
            await nc.publish(msg.reply, b"x" * 100_000)
        await nc.subscribe("big", cb=big)
        for _ in range(20):
            await inbox(nc).request("big")
        return [sub._pending_size for sub in nc._subs.values() if sub._subject.endswith(".*")]

    assert run(nats_server.url, body) == [0]


def test_pulls_reuse_their_subscriptions(nats_server):
    async def body(nc):
        await _queue(nc, "INBOXPULL")
        for i in range(30):
            await js.publish(nc, "INBOXPULL.m", str(i).encode())
        subs_before = len(nc._subs)
        got = []
        for _ in range(3):  # one after the other: the same subscription serves each
            msgs = await js.pull(nc, "INBOXPULL", "c", 10)
            got += [m.data for m in msgs]
            for m in msgs:
                await js.settle(nc, m.reply, b"+ACK")
        # Several at once, and one that finds nothing (a status message ends it).
        empty = await asyncio.gather(*(js.pull(nc, "INBOXPULL", "c", 5) for _ in range(4)))
        return got, empty, len(nc._subs) - subs_before

    got, empty, new_subs = run(nats_server.url, body)
    assert got == [str(i).encode() for i in range(30)]
    assert empty == [[]] * 4
    assert new_subs <= 4  # at most one per pull in progress at once, kept for the next


def test_messages_of_a_pull_that_timed_out_are_visible_again_at_once(nats_server):
    async def body(nc):
        await _queue(nc, "INBOXLATE", ack_wait_s=600)
        await js.publish(nc, "INBOXLATE.m", b"late")
        slot = await inbox(nc)._new_pull_slot()
        # As if a pull had given up: the subscription is there, nobody waits on it.
        await nc.publish(f"{js.API}.CONSUMER.MSG.NEXT.INBOXLATE.c", _pull_request(1), reply=slot.subject)
        for _ in range(50):
            await asyncio.sleep(0.05)
            info = await js.consumer_info(nc, "INBOXLATE", "c")
            if info["num_ack_pending"] == 0 and info["num_redelivered"] == 0 and info["delivered"]["stream_seq"]:
                break
        again = await js.pull(nc, "INBOXLATE", "c", 1)  # long before the 10-minute ack wait
        return [(m.data, js.Delivered.from_msg(m).deliveries) for m in again]

    assert run(nats_server.url, body) == [(b"late", 2)]


def test_a_cancelled_pull_gives_its_messages_back(nats_server):
    async def body(nc):
        await _queue(nc, "INBOXCANCEL", ack_wait_s=600)
        await js.publish(nc, "INBOXCANCEL.m", b"one")
        ib = inbox(nc)
        original = ib.nc.publish
        held = asyncio.Event()

        async def publish_then_hold(subject, payload=b"", reply="", headers=None):
            await original(subject, payload, reply=reply, headers=headers)
            if "MSG.NEXT" in subject:
                held.set()
        ib.nc.publish = publish_then_hold
        try:
            # A batch of 2 with one message there waits for a status message; cancelled first.
            task = asyncio.ensure_future(ib.pull(f"{js.API}.CONSUMER.MSG.NEXT.INBOXCANCEL.c",
                                                 json.dumps({"batch": 2, "expires": 5 * 10**9}).encode(), 2))
            await held.wait()
            for _ in range(50):
                await asyncio.sleep(0.05)
                if (await js.consumer_info(nc, "INBOXCANCEL", "c"))["num_ack_pending"]:
                    break
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            ib.nc.publish = original
        for _ in range(50):
            again = await js.pull(nc, "INBOXCANCEL", "c", 1)
            if again:
                return [m.data for m in again]
            await asyncio.sleep(0.05)
        return []

    assert run(nats_server.url, body) == [b"one"]


def test_the_reply_subscription_survives_a_nats_restart(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    try:
        async def body(nc):
            async def echo(msg):
                await nc.publish(msg.reply, b"re:" + msg.data)
            await nc.subscribe("echo", cb=echo)
            first = (await inbox(nc).request("echo", b"1")).data
            server.stop()
            server.start()
            for _ in range(100):
                if nc.is_connected:
                    break
                await asyncio.sleep(0.1)
            for _ in range(50):  # resubscribed after the reconnect
                try:
                    return first, (await inbox(nc).request("echo", b"2", timeout=0.5)).data
                except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    await asyncio.sleep(0.1)
            return first, None

        async def main():
            nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
            try:
                return await body(nc)
            finally:
                await nc.close()
        assert aio.run(main()) == (b"re:1", b"re:2")
    finally:
        server.stop()
