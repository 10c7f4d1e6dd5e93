"""The JetStream helpers against a real nats-server."""

import asyncio

import nats
import pytest

from services.awsapi import jetstream as js
from tests.support import aio
from tests.support.nats import NatsServer


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server.url
    server.stop()


def run(coro):
    return aio.run(coro)


async def _with_bucket(url: str, bucket: str, body):
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().create_key_value(bucket=bucket, history=1, storage="file")
        return await body(nc, kv)
    finally:
        await nc.close()


def test_kv_keys_lists_live_keys_only(nats_url):
    async def body(nc, kv):
        for key in ("b", "a", "gone", "purged"):
            await kv.put(key, b"{}")
        await kv.delete("gone")
        await kv.purge("purged")
        return await js.kv_keys(nc, "live")

    assert run(_with_bucket(nats_url, "live", body)) == ["a", "b"]


def test_kv_keys_of_an_empty_bucket(nats_url):
    async def body(nc, kv):
        return await js.kv_keys(nc, "empty")

    assert run(_with_bucket(nats_url, "empty", body)) == []


def test_kv_keys_reads_past_one_pull_batch_and_leaves_no_consumer(nats_url):
    async def body(nc, kv):
        await asyncio.gather(*(kv.put(f"k{i:04d}", b"1") for i in range(1300)))
        # Many at once, as a busy service would: every answer is whole.
        answers = await asyncio.gather(*(js.kv_keys(nc, "many") for _ in range(8)))
        return answers, await js.consumer_names(nc, "KV_many")

    answers, consumers = run(_with_bucket(nats_url, "many", body))
    assert all(a == [f"k{i:04d}" for i in range(1300)] for a in answers)
    assert consumers == []
