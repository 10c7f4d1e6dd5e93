"""Where the checkout is, for tests that read its files, and the tools bootstrap builds."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def built_tool(name: str) -> str:
    """A binary tools/bootstrap builds into .tools/bin (from tools/<name>'s pinned go.mod);
    a missing one fails the test that needs it, naming what to run."""
    path = str(ROOT / ".tools" / "bin" / name)
    if not os.access(path, os.X_OK):
        raise AssertionError(f"{path} missing: run `make bootstrap` (it builds tools/{name})")
    return path
