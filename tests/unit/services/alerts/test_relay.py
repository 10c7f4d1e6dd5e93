import asyncio
import base64

import pytest

from services.alerts import relay as r
from tests.support.aio import run


def test_subject_is_ascii_one_line_and_at_most_100_characters():
    text = r.subject({"level": "CRITICAL", "message": "disk / 95% used on control\nsee ✓" + "x" * 200})
    assert len(text) == 100 and text.isascii() and "\n" not in text and text.endswith("~")


def test_parse_keeps_the_series_tags():
    got = r.parse_alert(b'{"id": "a", "message": "m", "level": "OK", '
                        b'"data": {"series": [{"tags": {"host": "gw"}}]}}')
    assert got["tags"] == {"host": "gw"} and got["previousLevel"] == ""
    with pytest.raises(r.BadAlert, match="level"):
        r.parse_alert(b'{"id": "a", "message": "m", "level": "BAD"}')


def test_only_the_right_basic_credentials_pass():
    good = "Basic " + base64.b64encode(b"kapacitor:pw").decode()
    assert r.authorized(good, "kapacitor", "pw")
    assert not r.authorized(good, "kapacitor", "other") and not r.authorized(None, "k", "pw")
    assert not r.authorized("Basic !!!", "kapacitor", "pw")


def test_an_alert_sns_refuses_at_first_is_published_later():
    async def scenario():
        relay = r.Relay(r.SnsTarget("http://sns", "arn", "k", "s"), "kapacitor", "pw", backoff=(0,))
        tries = []

        async def publish(message):
            tries.append(message["id"])
            if len(tries) < 3:
                raise RuntimeError("SNS answered 503")
        relay.publish = publish
        worker = asyncio.create_task(relay._publish_forever())
        relay.queue.put_nowait({"id": "x", "level": "CRITICAL"})
        for _ in range(100):
            if relay.published:
                break
            await asyncio.sleep(0.01)
        worker.cancel()
        return tries, relay.published
    assert run(scenario()) == (["x", "x", "x"], 1)
