"""The real CLI on a copy of this checkout, with its own backend, so tests never touch the
user's own `.pulumi/` state or the dev stack's real run directory."""

from __future__ import annotations

import pytest

from tests.support.paths import ROOT
from tests.support.project import Project, copy_checkout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    if not (ROOT / ".tools" / "bin" / "pulumi").exists():
        pytest.fail("the toolchain is not built: run `make bootstrap`")
    return copy_checkout(tmp_path_factory.mktemp("checkout"))
