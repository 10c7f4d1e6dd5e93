"""server.read_body: the body limit before and while reading, its deadline, a client hanging up,
and a body that came whole with its headers taken as it is."""

import asyncio

import pytest

from services.awsapi import server, sigv4
from services.awsapi.errors import AwsError


class FakeBody:
    """request.content: yields the chunks (after `delay` s each), then raises `error` if given."""

    def __init__(self, chunks, delay=0.0, error=None):
        self.chunks, self.delay, self.error = list(chunks), delay, error
        self.served = 0

    def is_eof(self):
        return False  # still arriving: read_body has to wait for it

    async def iter_any(self):
        for chunk in self.chunks:
            await asyncio.sleep(self.delay)
            self.served += 1
            yield chunk
        if self.error:
            raise self.error


class BufferedBody:
    """request.content of a body that arrived whole with the headers (aiohttp saw its end)."""

    def __init__(self, data: bytes, error=None):
        self.data, self.error = data, error

    def is_eof(self):
        return True

    def read_nowait(self, n=-1):
        if self.error:
            raise self.error
        return self.data

    async def iter_any(self):
        raise AssertionError("a whole body is not waited for")
        yield b""


class FakeRequest:
    def __init__(self, body: FakeBody, content_length=None):
        self.content, self.content_length = body, content_length


def read(request, limit=10, timeout=5.0, **kwargs) -> bytes:
    return asyncio.run(server.read_body(request, limit, timeout, **kwargs))


def refusal(request, **kwargs) -> AwsError:
    with pytest.raises(AwsError) as e:
        read(request, **kwargs)
    return e.value


def test_reads_a_body_within_the_limit():
    assert read(FakeRequest(FakeBody([b"12345", b"67890"]), content_length=10)) == b"1234567890"


def test_declared_length_over_the_limit_is_refused_unread():
    body = FakeBody([b"x" * 11])
    err = refusal(FakeRequest(body, content_length=11))
    assert (err.code, err.status, body.served) == ("RequestEntityTooLarge", 413, 0)


def test_chunked_body_is_refused_as_soon_as_it_passes_the_limit():
    body = FakeBody([b"x" * 6, b"x" * 6, b"x" * 6])
    err = refusal(FakeRequest(body))
    assert (err.code, err.status, body.served) == ("RequestEntityTooLarge", 413, 2)


def test_what_an_over_limit_body_gets_is_the_callers_choice():
    err = refusal(FakeRequest(FakeBody([b"x" * 11])), excess=lambda _: sigv4.missing_authentication())
    assert (err.code, err.status) == ("MissingAuthenticationToken", 403)


def test_slow_body_times_out():
    err = refusal(FakeRequest(FakeBody([b"x"] * 5, delay=0.2)), timeout=0.3)
    assert (err.code, err.status) == ("RequestTimeout", 400)


def test_client_hanging_up_mid_body_is_a_client_error():
    err = refusal(FakeRequest(FakeBody([b"x"], error=ConnectionResetError("Connection lost"))))
    assert (err.code, err.status) == ("IncompleteBody", 400)


def test_a_body_that_came_whole_is_taken_without_waiting():
    assert read(FakeRequest(BufferedBody(b"1234567890"), content_length=10)) == b"1234567890"
    assert read(FakeRequest(BufferedBody(b""), content_length=0)) == b""


def test_a_whole_chunked_body_over_the_limit_is_refused():
    err = refusal(FakeRequest(BufferedBody(b"x" * 11)))
    assert (err.code, err.status) == ("RequestEntityTooLarge", 413)


def test_a_whole_body_that_was_badly_chunked_is_a_client_error():
    from aiohttp import web
    err = refusal(FakeRequest(BufferedBody(b"", error=web.RequestPayloadError("bad chunk"))))
    assert (err.code, err.status) == ("IncompleteBody", 400)
