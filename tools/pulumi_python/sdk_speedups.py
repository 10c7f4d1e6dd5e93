"""Fixes to the pinned Pulumi Python SDK's run loop, installed by the program runner.

Measured on the dev stack (about 240 resources), each one costs a second or more per engine pass:
- `pulumi.runtime.stack.wait_for_rpcs` waits for the program's outstanding outputs with
  `asyncio.wait(FIRST_COMPLETED)` and puts every unfinished task back one by one, so its cost grows
  with the square of the number of outputs. `wait_for_rpcs` below is the same loop waiting with
  FIRST_EXCEPTION: it still raises the first failure at once, and waits once per batch otherwise.
- Every resource registration logs debug lines through a blocking engine RPC on the event loop
  (about 1 ms each, 1,200 per pass). `_log` below hands debug lines without a resource to a
  background thread, which sends them in order; `flush()` waits for it before the program exits.
  Other severities, and lines about a resource, go through the SDK's own path unchanged.
- Every registration records the caller's stack (for the source positions in the state) with
  `traceback.extract_stack()`, which stats every source file on the stack each time. `_frames()`
  builds the same frame summaries (file, line, function) straight from the frames.
- The state keeps each resource's whole registration stack, down to the runner and asyncio
  (about 1.3 KB a resource, a fifth of the dev stack's state), and the DIY backend writes the
  whole state again after every step: the engine's busiest work in an `up` from zero.
  `_get_stack_trace` keeps the STACK_FRAMES innermost frames: the declaring line (the source
  position, unchanged) and the callers that say which layer made it.

`install()` checks the SDK still has what it replaces, so an upgrade that moves them fails loudly
(see tests/unit/toolchain/test_sdk_speedups.py) instead of silently running the slow paths.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import traceback

import pulumi.log
import pulumi.runtime.resource
import pulumi.runtime.stack
from pulumi.runtime import settings
from pulumi.runtime.proto import engine_pb2

STACK_FRAMES = 4

_original_log = pulumi.log._log
_original_stack_trace = pulumi.runtime.resource._get_stack_trace
_debug_lines: queue.Queue = queue.Queue()
_sender: threading.Thread | None = None


async def wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    rpc_manager = settings._get_rpc_manager()
    while True:
        while len(rpc_manager.rpcs) > 0:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    raise exn from rpc_manager.unhandled_exception.with_traceback(
                        rpc_manager.exception_traceback)
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)

        if await_all_outstanding_tasks:
            while True:
                with settings.SETTINGS.lock:
                    outputs = settings.SETTINGS.outputs
                    if not outputs:
                        break
                    pending = list(outputs)
                    outputs.clear()
                done, not_done = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    await task  # re-raises a failure here
                if not_done:
                    with settings.SETTINGS.lock:
                        settings.SETTINGS.outputs.update(not_done)

        if len(rpc_manager.rpcs) == 0:
            break


def _send_debug_lines() -> None:
    while True:
        item = _debug_lines.get()
        try:
            if item is None:
                return
            engine, request = item
            try:
                engine.Log(request)
            except Exception:  # noqa: BLE001 - a lost debug line must not fail the program
                pass
        finally:
            _debug_lines.task_done()


def _log(engine, severity, message, resource, stream_id, ephemeral):
    global _sender
    if severity != engine_pb2.DEBUG or resource is not None:
        return _original_log(engine, severity, message, resource, stream_id, ephemeral)
    if _sender is None:
        _sender = threading.Thread(target=_send_debug_lines, name="pulumi-debug-log", daemon=True)
        _sender.start()
    _debug_lines.put((engine, engine_pb2.LogRequest(
        severity=severity, message=message, urn="", streamId=stream_id or 0, ephemeral=ephemeral)))
    return None


def flush(timeout: float = 10.0) -> None:
    """Waits (at most `timeout` seconds) until every queued debug line has been sent."""
    global _sender
    if _sender is None:
        return
    _debug_lines.put(None)
    _sender.join(timeout)
    _sender = None


def _frames(frame=None) -> list[traceback.FrameSummary]:
    """The stack above the caller, outermost first, as `traceback.extract_stack()` returns it."""
    frame = frame or sys._getframe(1)
    frames = []
    while frame is not None:
        code = frame.f_code
        frames.append(traceback.FrameSummary(code.co_filename, frame.f_lineno, code.co_name,
                                             lookup_line=False))
        frame = frame.f_back
    frames.reverse()
    return frames


def _get_stack_trace():
    trace = _original_stack_trace()
    del trace.frames[STACK_FRAMES:]
    return trace


class _FastTraceback:
    """What `pulumi.runtime.resource` sees as its `traceback` module: `extract_stack` is cheap."""

    def __getattr__(self, name):
        return getattr(traceback, name)

    @staticmethod
    def extract_stack(f=None, limit=None):
        frames = _frames(f or sys._getframe(1))
        return frames[-limit:] if limit else frames


def install() -> None:
    if getattr(pulumi.runtime.resource, "traceback", None) is not traceback:
        raise RuntimeError("the Pulumi SDK's pulumi.runtime.resource no longer uses traceback: "
                           "review tools/pulumi_python/sdk_speedups.py for this SDK version")
    for module, name in ((pulumi.runtime.stack, "wait_for_rpcs"), (pulumi.log, "_log"),
                         (pulumi.runtime.resource, "_get_stack_trace")):
        if not callable(getattr(module, name, None)):
            raise RuntimeError(f"the Pulumi SDK no longer has {module.__name__}.{name}: "
                               "review tools/pulumi_python/sdk_speedups.py for this SDK version")
    if not hasattr(settings.SETTINGS, "outputs") or not hasattr(settings, "_get_rpc_manager"):
        raise RuntimeError("the Pulumi SDK's settings changed: review "
                           "tools/pulumi_python/sdk_speedups.py for this SDK version")
    pulumi.runtime.stack.wait_for_rpcs = wait_for_rpcs
    pulumi.log._log = _log
    pulumi.runtime.resource.traceback = _FastTraceback()
    pulumi.runtime.resource._get_stack_trace = _get_stack_trace
