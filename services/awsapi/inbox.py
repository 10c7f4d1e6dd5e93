"""One reply subscription per NATS connection for every request the services make.

nats-py's `request()` hands each reply from its read loop to a queue, a second task and a
callback before the caller's future is set, and wraps the wait in `asyncio.wait_for`; a pull
through a subscription of its own costs a SUB and an UNSUB at both ends as well. On two cores,
where boto3 clients compete with the server for the CPU, that is a good part of what a
SendMessage or a receive costs. Here every reply subject is `<inbox>.<token>` under one wildcard
subscription, and nats-py's read loop, where it would queue a message for that subscription,
resolves the waiting request directly (`_Dispatch`).

That one hook reaches into nats-py: a subscription's `_pending_queue`, to which its read loop
hands every message with `put_nowait`, and its `_pending_size` byte count (nats-py 2.16 as
locked; tests/integration/services/awsapi/test_inbox.py exercises it against a real server, so
a nats-py that changes either fails there). The subscription itself is an ordinary one: nats-py
subscribes it again after a reconnect.

A pull's messages that arrive after their caller gave up (a timeout) are not left in flight until
their ack wait expires: they are NAKed, so they are visible again at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from typing import Dict, Optional

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

log = logging.getLogger(__name__)

NO_RESPONDERS = "503"
MAX_IDLE_PULLS = 64  # pull subscriptions kept between pulls (one per pull in progress at once)
_ACK_PREFIX = "$JS.ACK."


class _Reply:
    """One request's single answer."""
    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future):
        self.future = future

    def deliver(self, msg: Msg) -> None:
        if not self.future.done():
            self.future.set_result(msg)


class _Batch:
    """A pull's messages, up to `size`; a status message (no more now, or an error) ends it."""
    __slots__ = ("future", "size", "msgs")

    def __init__(self, future: asyncio.Future, size: int):
        self.future = future
        self.size = size
        self.msgs: list[Msg] = []

    def deliver(self, msg: Msg) -> None:
        if self.future.done():
            return
        if msg.headers and msg.headers.get("Status"):
            self.future.set_result(None)  # 404 no messages, 408 done, 409 limits or consumer gone
            return
        if not msg.reply:
            return
        self.msgs.append(msg)
        if len(self.msgs) >= self.size:
            self.future.set_result(None)


class _Dispatch(asyncio.Queue):
    """Stands in for a subscription's message queue: nothing is queued, each message goes to
    `deliver` at once."""

    def __init__(self, sub, deliver):
        super().__init__()
        self._sub = sub
        self._deliver = deliver

    def put_nowait(self, msg: Msg) -> None:  # type: ignore[override]
        self._sub._pending_size -= len(msg.data)  # nats-py counts it in; nobody holds it
        self._deliver(msg)


class _PullSlot:
    """A subscription that receives one pull's messages at a time. JetStream delivers a pull's
    messages under their own subjects, so they cannot be told apart by reply subject as
    answers can: each pull in progress has a subscription to itself. Kept for the next pull
    once the last one has ended (a status message, or every message it asked for), so a pull
    costs no SUB and UNSUB."""
    __slots__ = ("sub", "subject", "waiter", "inbox")

    def __init__(self, inbox: "Inbox"):
        self.inbox = inbox
        self.sub = None
        self.subject = ""
        self.waiter: _Batch | None = None

    def deliver(self, msg: Msg) -> None:
        if self.waiter is not None:
            self.waiter.deliver(msg)
        elif msg.reply and msg.reply.startswith(_ACK_PREFIX):
            self.inbox._nak_stray(msg.reply)  # its pull gave up meanwhile


def _time_out(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(nats.errors.TimeoutError())


class Inbox:
    def __init__(self, nc: Client):
        self.nc = nc
        self._prefix = ""
        self._plen = 0
        self._waiting: Dict[str, object] = {}
        self._tokens = itertools.count(1)
        self._lock = asyncio.Lock()
        self._stray_tasks: set[asyncio.Task] = set()
        self._idle_pulls: list[_PullSlot] = []

    async def _ready(self) -> str:
        async with self._lock:
            if not self._prefix:
                prefix = self.nc.new_inbox() + "."
                sub = await self.nc.subscribe(prefix + "*")
                sub._pending_queue = _Dispatch(sub, self._deliver)
                self._plen = len(prefix)
                self._prefix = prefix
        return self._prefix

    def _deliver(self, msg: Msg) -> None:
        waiter = self._waiting.get(msg.subject[self._plen:])
        if waiter is not None:
            waiter.deliver(msg)  # type: ignore[attr-defined]

    def _nak_stray(self, reply: str) -> None:
        """A pull's message after its caller gave up: visible again now, not after ack wait."""
        task = asyncio.get_running_loop().create_task(self._nak(reply))
        self._stray_tasks.add(task)
        task.add_done_callback(self._stray_tasks.discard)

    async def _nak(self, reply: str) -> None:
        try:
            await self.nc.publish(reply, b"-NAK")
        except Exception as e:  # noqa: BLE001 - its ack wait makes it visible anyway
            log.debug("could not NAK a stray delivery: %s", type(e).__name__)

    async def _send(self, waiter, subject: str, payload: bytes, timeout: float,
                    headers: Optional[Dict[str, str]]) -> None:
        prefix = self._prefix or await self._ready()
        token = str(next(self._tokens))
        self._waiting[token] = waiter
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, _time_out, waiter.future)
        try:
            await self.nc.publish(subject, payload, reply=prefix + token, headers=headers)
            await waiter.future
        finally:
            timer.cancel()
            del self._waiting[token]

    async def request(self, subject: str, payload: bytes = b"", timeout: float = 5.0,
                      headers: Optional[Dict[str, str]] = None) -> Msg:
        """Like nats-py's `request()`: the reply, nats.errors.TimeoutError without one in time,
        NoRespondersError when nothing listens on `subject`."""
        waiter = _Reply(asyncio.get_running_loop().create_future())
        await self._send(waiter, subject, payload, timeout, headers)
        msg = waiter.future.result()
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS and not msg.data:
            raise nats.errors.NoRespondersError
        return msg

    async def pull(self, subject: str, payload: bytes, batch: int, timeout: float = 5.0) -> list[Msg]:
        """Up to `batch` messages answering a pull request (`subject` is the consumer's
        MSG.NEXT): what came before a status message or the timeout."""
        slot = self._idle_pulls.pop() if self._idle_pulls else await self._new_pull_slot()
        waiter = slot.waiter = _Batch(asyncio.get_running_loop().create_future(), batch)
        timer = asyncio.get_running_loop().call_later(timeout, _time_out, waiter.future)
        ended = False
        try:
            await self.nc.publish(subject, payload, reply=slot.subject)
            await waiter.future
            ended = True
        except nats.errors.TimeoutError:
            pass
        except BaseException:
            for msg in waiter.msgs:  # nobody gets these (cancelled, or the connection failed)
                self._nak_stray(msg.reply)
            raise
        finally:
            timer.cancel()
            slot.waiter = None
            if ended and len(self._idle_pulls) < MAX_IDLE_PULLS:
                self._idle_pulls.append(slot)
            else:  # the pull may still be answered: its subscription goes, not to another pull
                await self._retire(slot)
        return waiter.msgs

    async def _new_pull_slot(self) -> _PullSlot:
        slot = _PullSlot(self)
        slot.subject = self.nc.new_inbox()
        slot.sub = await self.nc.subscribe(slot.subject)
        slot.sub._pending_queue = _Dispatch(slot.sub, slot.deliver)
        return slot

    @staticmethod
    async def _retire(slot: _PullSlot) -> None:
        try:
            await slot.sub.unsubscribe()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass


_inboxes: "weakref.WeakKeyDictionary[Client, Inbox]" = weakref.WeakKeyDictionary()


def inbox(nc: Client) -> Inbox:
    """The connection's Inbox (made on first use)."""
    found = _inboxes.get(nc)
    if found is None:
        found = _inboxes[nc] = Inbox(nc)
    return found
