"""The linter (ruff.toml) passes on the whole tree, as part of `make test`."""

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
