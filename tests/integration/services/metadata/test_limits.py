"""Per-caller caps and the idle timeout, with real sockets against the real service: a caller
over its cap gets 429 (others are still served), a slot comes back when its holder hangs up, and
idle connections are closed."""

from __future__ import annotations

import http.client
import socket
import time

import pytest

pytestmark = pytest.mark.integration

POLL = "/latest/meta-data/instance-id?wait_for_change=true&timeout_sec=20"


def kept_alive(server, source: str) -> http.client.HTTPConnection:
    """A connection from `source` that got one answer and stays open."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10,
                                      source_address=(source, 0))
    conn.request("GET", "/latest/meta-data/instance-id")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200 and not resp.will_close
    return conn


def waiting(server, source: str, path: str = POLL) -> socket.socket:
    """A raw connection whose long poll is in flight (no answer read)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                    source_address=(source, 0))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n".encode())
    return sock


def eventually(predicate, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_connections_per_caller_are_capped(make_server):
    server = make_server({"limits": {"connections_per_caller": 3}})
    held = [kept_alive(server, "127.0.0.2") for _ in range(3)]
    over = server.get("127.0.0.2", "/latest/meta-data/instance-id")
    assert over.status == 429 and "too many connections" in over.body
    assert over.headers["Retry-After"] == "1"
    # Another caller is not affected, and the three held connections still answer.
    assert server.get("127.0.0.3", "/latest/meta-data/instance-id").status == 200
    for conn in held:
        conn.request("GET", "/latest/meta-data/local-hostname")
        assert conn.getresponse().read() == b"web-1.mammatus"
    held.pop().close()
    assert eventually(lambda: server.get("127.0.0.2", "/latest/meta-data/").status == 200)
    for conn in held:
        conn.close()


def test_long_polls_per_caller_are_capped_and_freed_on_hang_up(make_server):
    server = make_server({"limits": {"long_polls_per_caller": 2}})
    polls = [waiting(server, "127.0.0.2") for _ in range(2)]
    time.sleep(0.3)  # both are waiting now
    over = server.get("127.0.0.2", POLL)
    assert over.status == 429 and "too many long polls" in over.body
    assert over.headers["Retry-After"] == "1"
    assert server.get("127.0.0.2", "/latest/meta-data/instance-id").status == 200  # no poll
    quick = "/latest/meta-data/instance-id?wait_for_change=true&timeout_sec=0.2"
    assert server.get("127.0.0.3", quick).status == 200  # db-1 has slots of its own
    # Hanging up frees the slot within a re-check interval, not at the 20 s timeout.
    for sock in polls:
        sock.close()
    assert eventually(lambda: server.get("127.0.0.2", quick).status == 200, seconds=3)


def test_idle_connections_are_closed(make_server):
    server = make_server({"limits": {"idle_timeout_seconds": 1}})
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                      source_address=("127.0.0.2", 0))
    conn = kept_alive(server, "127.0.0.2")
    started = time.monotonic()
    assert silent.recv(1) == b""  # never sent a request: closed
    assert conn.sock.recv(1) == b""  # idle after its answer: closed
    assert 0.5 < time.monotonic() - started < 5
    silent.close()
    conn.close()


def hung_up_after(sock: socket.socket, lines: list[bytes], pause: float) -> float:
    """Sends `lines` `pause` apart until the server hangs up; the seconds that took."""
    started = time.monotonic()
    try:
        for line in lines:
            sock.sendall(line)
            time.sleep(pause)
        sock.recv(1)  # b"" once the server closed
    except ConnectionError:
        pass  # reset or broken pipe: hung up mid-send
    return time.monotonic() - started


def test_a_request_trickling_in_is_cut_at_the_idle_timeout(make_server):
    server = make_server({"limits": {"idle_timeout_seconds": 1}})
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                    source_address=("127.0.0.2", 0))
    # Headers that never end, a line every 0.25 s: 5 s' worth, cut after about 1 s.
    assert hung_up_after(slow, [b"GET / HTTP/1.1\r\n"] + [b"X-Slow: 1\r\n"] * 20, 0.25) < 3
    slow.close()


def test_a_long_poll_is_not_idle(make_server):
    server = make_server({"limits": {"idle_timeout_seconds": 1}})
    started = time.monotonic()
    reply = server.get("127.0.0.2", "/latest/meta-data/instance-id?wait_for_change=true"
                                    "&timeout_sec=2.5")
    assert reply.status == 200 and time.monotonic() - started >= 2.4
