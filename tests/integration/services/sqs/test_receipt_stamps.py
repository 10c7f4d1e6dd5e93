"""services/sqs/receipts.py's stamps against a real nats-server: read with a direct get when the
stream has one replica (the JSON API is not asked), through the API otherwise, and a stamp
stream lost with a NATS restart trusts the handle (as documented) instead of failing."""

import nats
import pytest

from services.awsapi import jetstream as js
from services.sqs.receipts import STREAM, Delivery, Receipts
from tests.support import aio
from tests.support.nats import NatsServer

pytestmark = pytest.mark.integration


def run(url, body):
    async def main():
        nc = await nats.connect(url)
        try:
            return await body(nc)
        finally:
            await nc.close()
    return aio.run(main())


def _deliveries(seq):
    return [Delivery(f"$JS.ACK.S.c.{n}.{seq}.{n}.1.0", seq, n) for n in (1, 2, 3)]


async def _answers(receipts, qid, deliveries):
    return [await receipts.is_current(qid, d) for d in deliveries]


def test_one_replica_reads_stamps_by_direct_get(nats_server, monkeypatch):
    async def body(nc):
        receipts = Receipts(nc, replicas=1)
        await receipts.start()
        first, second, third = _deliveries(7)
        before = await _answers(receipts, "qdirect", [first])
        await receipts.stamp("qdirect", [second])

        async def no_api(*args, **kwargs):
            raise AssertionError("the JSON API was asked")
        monkeypatch.setattr(js, "api", no_api)
        return before, await _answers(receipts, "qdirect", [first, second, third])

    before, after = run(nats_server.url, body)
    assert before == [True]                # no stamp: a first delivery is current
    assert after == [False, True, False]   # the stamped delivery alone is


def test_several_replicas_ask_the_stream_leader(nats_server, monkeypatch):
    async def body(nc):
        receipts = Receipts(nc, replicas=1)
        await receipts.start()
        receipts.replicas = 3  # as a process in a cluster would read: never a direct get
        first, second, _ = _deliveries(8)
        await receipts.stamp("qleader", [second])
        asked = []
        real_api = js.api

        async def counting_api(nc_, subject, *args, **kwargs):
            asked.append(subject)
            return await real_api(nc_, subject, *args, **kwargs)
        monkeypatch.setattr(js, "api", counting_api)
        return await _answers(receipts, "qleader", [first, second]), asked

    answers, asked = run(nats_server.url, body)
    assert answers == [False, True]
    assert asked == [f"STREAM.MSG.GET.{STREAM}"] * 2


def test_stamps_lost_with_a_nats_restart_trust_the_handle(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    try:
        async def body(nc):
            receipts = Receipts(nc, replicas=1)
            await receipts.start()
            first, second, _ = _deliveries(9)
            await receipts.stamp("qlost", [second])
            stale = await receipts.is_current("qlost", first)
            await js.delete_stream(nc, STREAM)  # what a restart does to a memory stream
            return stale, await _answers(receipts, "qlost", [first, second])

        assert run(server.url, body) == (False, [True, True])
    finally:
        server.stop()
