"""Times `pulumi up` of the dev stack from zero and a no-op `up` (as `make up` runs it, with
--skip-preview; also with the preview pass an interactive `up` adds), on a copy of this checkout
(its own backend, namespaces prefixed "mb", run dir under /var/lib/mammatus-bench), then
destroys it. Prints figures; goals on 2 cores: <= 120 s from zero (instance image cached),
<= 10 s no-op. For the up from zero it also prints how long each phase ran, from the CLI's
event log: hosts (the dev box's bridges, its LXD and the host containers booted to sshd),
delivery (Debian packages, binaries and the services' venvs), layers (everything else); phases overlap, so the shares need not add up to 100 %. "From zero" includes LXD's init, the image upload and the instance's boot up to
its DHCP lease; the first run on a machine also builds the image (about 70 s more).

    .venv/bin/python benchmarks/dev_up.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynamic_providers import rootfs_image
from tests.support.project import copy_checkout


def timed(project, *args: str, env: dict | None = None) -> float:
    start = time.monotonic()
    project.pulumi(*args, env=env)
    return time.monotonic() - start


PHASES = (("hosts", ("mammatus:dev:DevBoxPlane",)), ("delivery", ("mammatus:delivery:Delivery",)))


def phase_of(urn: str) -> str:
    """A resource's phase, from the component types in its URN's type chain."""
    chain = urn.split("::")[2] if urn.count("::") >= 3 else ""
    for phase, types in PHASES:
        if any(t in chain for t in types):
            return phase
    return "layers"


def phases(event_log: Path) -> dict[str, float]:
    """Seconds from each phase's first resource step to its last, from `--event-log`."""
    spans: dict[str, list[float]] = {}
    for line in event_log.read_text().splitlines():
        event = json.loads(line)
        step = event.get("resourcePreEvent") or event.get("resOutputsEvent")
        if not step or step.get("metadata", {}).get("op") == "same":
            continue
        at = float(event["timestamp"])
        span = spans.setdefault(phase_of(step["metadata"]["urn"]), [at, at])
        span[0], span[1] = min(span[0], at), max(span[1], at)
    return {phase: end - start for phase, (start, end) in spans.items()}


def step_times(event_log: Path) -> dict[str, tuple[float, float]]:
    """{urn: (first pre-event, outputs event)} of every resource step that did something."""
    started: dict[str, float] = {}
    times: dict[str, tuple[float, float]] = {}
    for line in event_log.read_text().splitlines():
        event = json.loads(line)
        for kind in ("resourcePreEvent", "resOutputsEvent"):
            step = event.get(kind)
            if not step or step.get("metadata", {}).get("op") == "same":
                continue
            urn, at = step["metadata"]["urn"], float(event["timestamp"])
            if kind == "resourcePreEvent":
                started.setdefault(urn, at)
            elif urn in started:
                times[urn] = (started[urn], at)
    return times


def slowest(event_log: Path, n: int = 12) -> list[tuple[str, float]]:
    """The `n` resources whose own step (pre-event to outputs) took longest: (name, seconds);
    components are left out."""
    took = {}
    for urn, (start, end) in step_times(event_log).items():
        own_type = urn.split("::")[2].rsplit("$", 1)[-1] if urn.count("::") >= 3 else ""
        if not own_type.startswith(("mammatus:", "pulumi:pulumi:")):   # components span their children's steps
            took[urn] = end - start
    ranked = sorted(took.items(), key=lambda item: -item[1])[:n]
    return [(urn.rsplit("::", 1)[1], seconds) for urn, seconds in ranked]


def critical_path(event_log: Path, resources: list[dict]) -> list[tuple[str, float, float]]:
    """The chain of steps that decided the run's length: from the step that ended last, back
    through the dependency that ended last before it (a component's dependencies count for its
    children; a component as a dependency stands for its latest child).
    [(name, start, end)] in seconds from the run's first step, first step first."""
    times = step_times(event_log)
    custom = {r["urn"] for r in resources if r.get("custom")} & set(times)
    if not custom:
        return []
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])
    parents = {r["urn"]: r.get("parent") for r in resources}
    own = {r["urn"]: r.get("dependencies") or [] for r in resources}

    def deps_of(urn: str) -> list[str]:
        found, at = [], urn
        while at:
            found += own.get(at, [])
            at = parents.get(at)
        return found

    def customs_under(urn: str) -> list[str]:
        found, todo = [], [urn]
        while todo:
            u = todo.pop()
            found += [u] if u in custom else []
            todo += children.get(u, []) if u not in custom else []
        return found

    zero = min(start for start, _ in times.values())
    at = max(custom, key=lambda u: times[u][1])
    chain = [at]
    while True:
        before = [c for d in deps_of(at) for c in customs_under(d)
                  if times[c][1] <= times[at][0] + 1]   # the log's clock has whole seconds
        if not before:
            break
        at = max(before, key=lambda u: times[u][1])
        chain.append(at)
    return [(u.rsplit("::", 1)[1], times[u][0] - zero, times[u][1] - zero) for u in reversed(chain)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    rounds = ap.parse_args().rounds
    run_root = Path("/var/lib/mammatus-bench") / uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_checkout(Path(tmp))
        # RFC 2544's benchmarking range: apart from `make up` and the e2e test's cloud.
        project.isolate_dev_stack("mb", run_root / "dev", "198.18.0")
        project.pulumi("stack", "init", "dev")
        image = Path(rootfs_image.tarball_path({**rootfs_image.recipe(),
                                                 "cache_dir": rootfs_image.CACHE_DIR}))
        print(f"instance image {'cached' if image.exists() else 'NOT cached (built in round 1)'}: {image}")
        try:
            for n in range(1, rounds + 1):
                log = Path(tmp) / f"up-{n}.jsonl"
                # --event-log is one of the CLI's debug flags.
                cold = timed(project, "up", "--yes", "--skip-preview", "--stack", "dev",
                             f"--event-log={log}", env={"PULUMI_DEBUG_COMMANDS": "true"})
                state = project.resources()
                resources = len(state)
                shares = "  ".join(f"{p} {t:5.1f} s ({100 * t / cold:3.0f} %)"
                                   for p, t in sorted(phases(log).items()))
                # As `make up` runs it; and with the preview pass an interactive `up` adds.
                noop = timed(project, "up", "--yes", "--skip-preview", "--expect-no-changes",
                             "--stack", "dev")
                previewed = timed(project, "up", "--yes", "--expect-no-changes", "--stack", "dev")
                down = timed(project, "destroy", "--yes", "--skip-preview", "--stack", "dev")
                print(f"round {n}: up from zero {cold:6.1f} s ({resources} resources)   "
                      f"no-op up {noop:5.1f} s (with a preview first {previewed:5.1f} s)   "
                      f"destroy {down:5.1f} s\n"
                      f"         phases of the up from zero: {shares}\n"
                      "         slowest steps: " + ", ".join(
                          f"{name} {t:.1f} s" for name, t in slowest(log)) + "\n"
                      "         critical path (start-end s): " + " -> ".join(
                          f"{name} {a:.0f}-{b:.0f}" for name, a, b in critical_path(log, state)),
                      flush=True)
        finally:
            project.pulumi("destroy", "--yes", "--stack", "dev", check=False)
            shutil.rmtree(run_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
