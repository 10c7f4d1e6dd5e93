"""The instance's Vault Agent unit, checked by the real systemd-analyze (systemd 252, Debian 12's
own). Vault itself is not installed here (it cannot be built from the modules reachable on this
machine), and `verify` resolves ExecStart's binary, so the check runs on the unit with `vault`
swapped for an executable that exists; every other line is verified as written."""

import shutil
import subprocess

import pytest

from components.render import vault

pytestmark = pytest.mark.integration

ANALYZE = shutil.which("systemd-analyze") or "systemd-analyze"   # Debian's systemd


def verify(tmp_path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "vault-agent.service"
    path.write_text(text)
    return subprocess.run([ANALYZE, "verify", "--man=no", str(path)], capture_output=True,
                          text=True, timeout=60)


def runnable(unit: str) -> str:
    swapped = unit.replace("ExecStart=vault agent ", "ExecStart=/bin/true agent ")
    assert swapped != unit
    return swapped


def test_the_agent_unit_verifies(tmp_path):
    done = verify(tmp_path, runnable(vault.agent_unit()))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_verify_catches_a_broken_unit(tmp_path):
    broken = runnable(vault.agent_unit()).replace("ProtectHome=yes", "ProtectHome=sometimes")
    done = verify(tmp_path, broken)
    assert "Failed to parse protect home value" in done.stderr
