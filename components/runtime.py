"""What runs a daemon on a host, as the Delivery layer put it there: its binaries (`delivered`),
the venv of Mammatus' Python services (`python_runtime`) and how such a service is started
(`python_daemon`). Shared infrastructure: every layer may use it; the Delivery layer fills the
context's `binaries` and `runtimes` (components/cloud.py wires them)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi

from components.host import HostAccess
from components.service_manager import Daemon
from stacks.artifacts import BIN_DIR, SERVICES_ROOT


@dataclass(frozen=True)
class Delivered:
    path: str                       # as commands on the host see it
    sha256: str                     # "" when no Delivery layer placed it (a layer alone, in tests)
    resource: Optional[pulumi.Resource] = None

    @property
    def deps(self) -> list[pulumi.Resource]:
        return [self.resource] if self.resource is not None else []


@dataclass(frozen=True)
class PythonRuntime:
    python: str                     # the venv's interpreter, as commands on the host see it
    pythonpath: str                 # the services' source
    sha256: str = ""
    resource: Optional[pulumi.Resource] = None
    environment_sha256: str = ""

    @property
    def deps(self) -> list[pulumi.Resource]:
        return [self.resource] if self.resource is not None else []


def delivered(ctx, access: HostAccess, name: str) -> Delivered:
    """The binary `name` on that host, as the Delivery layer put it there."""
    found = ctx.binaries.get((access.host.name, name))
    if found is not None:
        return found
    return Delivered(posixpath.join(BIN_DIR, name), "")


def python_runtime(ctx, access: HostAccess) -> PythonRuntime:
    """Where the host runs Mammatus' Python services (the Delivery layer's venv)."""
    found = ctx.runtimes.get(access.host.name)
    if found is not None:
        return found
    root = SERVICES_ROOT
    return PythonRuntime(posixpath.join(root, "current", "venv", "bin", "python"),
                         posixpath.join(root, "current", "src"))


def python_daemon(ctx, access: HostAccess, name: str, module: str,
                  args: Sequence[str], description: str, **identity
                  ) -> tuple[Daemon, list[pulumi.Resource]]:
    """A Mammatus Python service (`python -m services.x …`) on a host, run by the venv the
    Delivery layer made there, and the resources to wait for. The interpreter's path holds the
    bundle's digest, so a new bundle restarts the daemon. `identity`: Daemon's user, state_dir,
    capabilities."""
    runtime = python_runtime(ctx, access)
    return (Daemon(name=name, description=description,
                   command=[runtime.python, "-m", module, *args],
                   environment={"PYTHONPATH": runtime.pythonpath, "PYTHONUNBUFFERED": "1"},
                   **identity),
            runtime.deps)
