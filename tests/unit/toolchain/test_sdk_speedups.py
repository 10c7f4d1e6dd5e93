import asyncio
import sys
import threading
import traceback
from pathlib import Path

import pulumi.log
import pulumi.runtime.resource
import pulumi.runtime.stack
import pytest
from pulumi.runtime import settings
from pulumi.runtime.proto import engine_pb2

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools" / "pulumi_python"))

import sdk_speedups  # noqa: E402


@pytest.fixture
def outputs():
    """The SDK's set of outstanding outputs, emptied for the test and restored after it."""
    saved = set(settings.SETTINGS.outputs)
    settings.SETTINGS.outputs.clear()
    yield settings.SETTINGS.outputs
    settings.SETTINGS.outputs.clear()
    settings.SETTINGS.outputs.update(saved)


def test_install_replaces_the_slow_paths(monkeypatch):
    monkeypatch.setattr(pulumi.runtime.stack, "wait_for_rpcs", pulumi.runtime.stack.wait_for_rpcs)
    monkeypatch.setattr(pulumi.log, "_log", pulumi.log._log)
    monkeypatch.setattr(pulumi.runtime.resource, "traceback", traceback)
    monkeypatch.setattr(pulumi.runtime.resource, "_get_stack_trace",
                        pulumi.runtime.resource._get_stack_trace)
    sdk_speedups.install()
    assert pulumi.runtime.stack.wait_for_rpcs is sdk_speedups.wait_for_rpcs
    assert pulumi.log._log is sdk_speedups._log
    assert isinstance(pulumi.runtime.resource.traceback, sdk_speedups._FastTraceback)
    assert pulumi.runtime.resource._get_stack_trace is sdk_speedups._get_stack_trace


def test_install_refuses_an_sdk_without_what_it_replaces(monkeypatch):
    monkeypatch.delattr(pulumi.log, "_log")
    with pytest.raises(RuntimeError, match="pulumi.log._log"):
        sdk_speedups.install()


def test_waits_for_outputs_added_while_it_waits(outputs):
    finished = []

    async def scenario():
        async def late():
            finished.append("late")

        async def early():
            await asyncio.sleep(0.01)
            outputs.add(asyncio.ensure_future(late()))
            finished.append("early")

        outputs.add(asyncio.ensure_future(early()))
        await sdk_speedups.wait_for_rpcs()

    asyncio.run(scenario())
    assert finished == ["early", "late"] and not outputs


def test_a_failed_output_is_raised_at_once_while_others_still_wait(outputs):
    async def scenario():
        async def never():
            await asyncio.Event().wait()

        async def fails():
            raise ValueError("boom")

        outputs.update({asyncio.ensure_future(never()), asyncio.ensure_future(fails())})
        await asyncio.wait_for(sdk_speedups.wait_for_rpcs(), timeout=5)

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(scenario())


class RecordingEngine:
    def __init__(self):
        self.requests = []
        self.threads = set()

    def Log(self, request):
        self.threads.add(threading.current_thread().name)
        self.requests.append(request)


def test_debug_lines_go_out_in_order_off_the_event_loop_and_flush_waits_for_them(monkeypatch):
    monkeypatch.setattr(sdk_speedups, "_sender", None)
    engine = RecordingEngine()
    for n in range(50):
        sdk_speedups._log(engine, engine_pb2.DEBUG, f"line {n}", None, None, None)
    sdk_speedups.flush()
    assert [r.message for r in engine.requests] == [f"line {n}" for n in range(50)]
    assert engine.threads == {"pulumi-debug-log"}


def test_other_severities_keep_the_sdks_synchronous_path(monkeypatch):
    calls = []
    monkeypatch.setattr(sdk_speedups, "_original_log", lambda *args: calls.append(args))
    engine = RecordingEngine()
    sdk_speedups._log(engine, engine_pb2.WARNING, "careful", None, None, None)
    assert calls == [(engine, engine_pb2.WARNING, "careful", None, None, None)]
    assert engine.requests == []


def test_stack_frames_match_what_traceback_extracts():
    def where():
        return traceback.extract_stack(), sdk_speedups._FastTraceback.extract_stack()

    slow, fast = where()
    assert [(f.filename, f.name) for f in fast] == [(f.filename, f.name) for f in slow]
    assert [f.lineno for f in fast][:-1] == [f.lineno for f in slow][:-1]  # the last: the call itself
    assert fast[-1].name == "where"


class _Outer:  # a resource's constructor chain: three __init__ frames above the SDK
    def __init__(self):
        self.trace = _Middle().trace


class _Middle:
    def __init__(self):
        self.trace = _Inner().trace


class _Inner:
    def __init__(self):
        self.trace = pulumi.runtime.resource._get_stack_trace()


def test_the_sdks_source_positions_are_unchanged(monkeypatch):
    traces = []
    for module in (traceback, sdk_speedups._FastTraceback()):
        monkeypatch.setattr(pulumi.runtime.resource, "traceback", module)
        traces.append(_Outer().trace)  # the same line both times
    slow, fast = ([(f.pc.uri, f.pc.line) for f in t.frames] for t in traces)
    assert fast == slow and fast[0] == (Path(__file__).as_uri(), fast[0][1])


class _Deep:  # a resource declared a few calls below the test
    def __init__(self, depth):
        self.trace = self.down(depth)

    def down(self, depth):
        return self.down(depth - 1) if depth else _Outer().trace


def test_the_state_keeps_the_innermost_frames_and_the_same_source_position(monkeypatch):
    monkeypatch.setattr(pulumi.runtime.resource, "traceback", sdk_speedups._FastTraceback())
    whole = _Deep(6).trace
    monkeypatch.setattr(sdk_speedups, "_original_stack_trace", lambda: _Deep(6).trace)
    kept = sdk_speedups._get_stack_trace()
    assert len(whole.frames) > sdk_speedups.STACK_FRAMES == len(kept.frames)
    assert [(f.pc.uri, f.pc.line) for f in kept.frames] == \
        [(f.pc.uri, f.pc.line) for f in whole.frames[:sdk_speedups.STACK_FRAMES]]
