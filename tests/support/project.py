"""A copy of this checkout driven by the real CLI (`bin/pulumi`), with its own backend, so tests
and benchmarks never touch the user's own `.pulumi/` state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.support.paths import ROOT


class Project:
    def __init__(self, path: Path):
        self.path = path

    def pulumi(self, *args: str, check: bool = True, timeout: int = 900,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")},
               **(env or {})}
        proc = subprocess.run([str(self.path / "bin" / "pulumi"), *args, "--non-interactive"],
                              cwd=self.path, env=env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def outputs(self, stack: str = "dev") -> dict:
        out = self.pulumi("stack", "output", "--json", "--show-secrets", "--stack", stack)
        return json.loads(out.stdout)

    def resources(self, stack: str = "dev", secrets: bool = False) -> list[dict]:
        """The state's resources; with `secrets`, their secret values decrypted and unwrapped."""
        args = ["stack", "export", "--stack", stack, *(["--show-secrets"] if secrets else [])]
        state = json.loads(self.pulumi(*args).stdout)
        resources = state["deployment"].get("resources") or []
        return [unwrap_secrets(r) for r in resources] if secrets else resources

    def set_stack_config(self, stack: str, key: str, value: str) -> None:
        """Edits Pulumi.<stack>.yaml of the copy as a user would (plain text, no CLI)."""
        file = self.path / f"Pulumi.{stack}.yaml"
        lines = [line for line in file.read_text().splitlines() if f"{key}:" not in line]
        at = lines.index("config:") + 1
        lines.insert(at, f"  {key}: {value}")
        file.write_text("\n".join(lines) + "\n")

    def isolate_dev_stack(self, prefix: str, run_dir: Path, lan: str) -> None:
        """The copy's dev stack on namespaces, a run directory and a LAN /24 of its own (`lan`
        is its first three octets), so it runs beside a user's own `make up` (prefix mm,
        198.51.100.0/24, /var/lib/mammatus/dev) and neither sees the other's addresses."""
        file = self.path / "Pulumi.dev.yaml"
        file.write_text(file.read_text().replace("198.51.100.", f"{lan}."))
        self.set_stack_config("dev", "mammatus:runDir", str(run_dir))
        self.set_stack_config("dev", "mammatus:devBox",
                              f"{{prefix: {prefix}, machineLanAddress: {lan}.254/24}}")


def copy_checkout(dest: Path) -> Project:
    """This checkout's files (tracked and new, not ignored) copied to `dest`, sharing the built
    toolchain and venv, with a backend of its own."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    for built in (".venv", ".tools"):
        (dest / built).symlink_to(ROOT / built)
    return Project(dest)


SECRET_SIG = "4dabf18193072939515e22adb298388d"   # Pulumi's marker of a secret value


def unwrap_secrets(value):
    """A decrypted state export's value with each secret envelope replaced by its value."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270" and "plaintext" in value:
            return unwrap_secrets(json.loads(value["plaintext"]))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value
