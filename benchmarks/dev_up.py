"""Times `pulumi up` of the dev stack from zero and a no-op `up`, on a copy of this checkout
(its own backend, namespaces prefixed "mb", run dir under /var/lib/mammatus-bench), then
destroys it. Prints figures; goals on 2 cores: <= 120 s from zero (instance image cached),
<= 15 s no-op. "From zero" includes LXD's init, the image upload and the instance's boot up to
its DHCP lease; the first run on a machine also builds the image (about 70 s more).

    .venv/bin/python benchmarks/dev_up.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynamic_providers import rootfs_image  # noqa: E402
from tests.support.project import copy_checkout  # noqa: E402


def timed(project, *args: str) -> float:
    start = time.monotonic()
    project.pulumi(*args)
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    rounds = ap.parse_args().rounds
    run_root = Path("/var/lib/mammatus-bench") / uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_checkout(Path(tmp))
        project.set_stack_config("dev", "mammatus:runDir", str(run_root / "dev"))
        project.set_stack_config("dev", "mammatus:devBox", "{prefix: mb}")
        project.pulumi("stack", "init", "dev")
        image = Path(rootfs_image.tarball_path({**rootfs_image.recipe(),
                                                 "cache_dir": rootfs_image.CACHE_DIR}))
        print(f"instance image {'cached' if image.exists() else 'NOT cached (built in round 1)'}: {image}")
        try:
            for n in range(1, rounds + 1):
                cold = timed(project, "up", "--yes", "--skip-preview", "--stack", "dev")
                resources = len(project.resources())
                noop = timed(project, "up", "--yes", "--expect-no-changes", "--stack", "dev")
                down = timed(project, "destroy", "--yes", "--skip-preview", "--stack", "dev")
                print(f"round {n}: up from zero {cold:6.1f} s ({resources} resources)   "
                      f"no-op up {noop:5.1f} s   destroy {down:5.1f} s", flush=True)
        finally:
            project.pulumi("destroy", "--yes", "--stack", "dev", check=False)
            shutil.rmtree(run_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
