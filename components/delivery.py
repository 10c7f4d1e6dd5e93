"""mammatus:delivery:Delivery — puts on each host the daemon binaries its roles and placements
need (stacks/artifacts.py), built for the host's architecture by tools/bootstrap
(`.tools/dist/<platform>/`, digests in its manifest.json), before any layer runs them.

Each binary is an Artifact (dynamic_providers/artifact.py): copied over SSH, checked by sha256
on the host; `refresh` finds a deleted or altered one and `up` delivers it again. A layer asks
`delivered(ctx, access, name)` for the binary's path on the host, the resource to wait for and
the digest, which goes into the daemon's restart digest: a new pin re-delivers that binary and
restarts only the daemons that run it.

Mammatus' own Python services come as two tars per platform (tools/dist/bundle.py): the
environment (the hash-pinned lock installed for the platform) and the bundle (the services'
source), delivered the same way to each host that runs one and made into a venv there
(dynamic_providers/services_runtime.py). A layer asks `python_runtime(ctx, access)` for the
interpreter and PYTHONPATH: they live in folders named by the two digests, so a new bundle or
lock restarts exactly the Python daemons.

Debian packages (dnsmasq-base, iptables, serf, lxd, python3-venv …: stacks/artifacts.py) are
installed at the versions tools/debian.lock pins, from a repository Mammatus delivers to the
host (tools/dist/debs.py, dynamic_providers/debian_packages.py): no host needs a mirror. Every
later command to a host waits for its packages (`host_ready`). The dev stack's
hosts (LXD system containers with no network out) install them the same way.

Built right after SSH access. Provides `placed` ({(host, binary): Delivered}), `runtimes`
({host: PythonRuntime}) and `host_ready` ({host: [its packages]}), which components/cloud.py puts
in the context for every later layer (components/runtime.py reads them).
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
from pathlib import Path
from typing import Optional

import pulumi

from components.context import CloudContext
from components.runtime import Delivered, PythonRuntime
from dynamic_providers.artifact import Artifact
from dynamic_providers.debian_packages import DebianPackages
from dynamic_providers.services_runtime import ServicesRuntime, python_of, source_of
from stacks.artifacts import (BIN_DIR, DEBIAN_REPO, DEBIAN_ROOT, DISTRO_UNITS_TO_MASK,
                              INSTANCE_ARTIFACTS_ROOT, INSTANCE_PLATFORM, SERVICES_BUNDLE,
                              SERVICES_ENVIRONMENT, SERVICES_ROOT, binaries_for, debian_packages_for, instance_binaries,
                              platform_of, runs_services)
from tools.dist import bundle, debs

# Where tools/bootstrap leaves the builds; MAMMATUS_DIST points elsewhere (another build of a pin).
DIST_ENV = "MAMMATUS_DIST"


def dist_dir() -> Path:
    return Path(os.environ.get(DIST_ENV) or Path(__file__).resolve().parent.parent / ".tools" / "dist")


class MissingBuild(ValueError):
    pass


def load_manifest(dist: Path) -> dict:
    try:
        return json.loads((dist / "manifest.json").read_text())
    except FileNotFoundError:
        raise MissingBuild(f"no {dist}/manifest.json: run tools/bootstrap") from None


def _bootstrap_hint(platform: str) -> str:
    arch = platform.split("-", 1)[1]
    return "tools/bootstrap" if arch == "amd64" else f"tools/bootstrap --arch {arch}"


def build_of(manifest: dict, dist: Path, platform: str, name: str, host: str) -> tuple[str, str]:
    """(local file, sha256) of one build; a clear error naming the command that makes it."""
    entry = manifest.get(platform, {}).get(name)
    if entry is None:
        raise MissingBuild(f"host {host} needs {name} for {platform}, which is not built: "
                           f"run {_bootstrap_hint(platform)}")
    return str(dist / platform / name), entry["sha256"]


class Delivery(pulumi.ComponentResource):
    binaries: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:delivery:Delivery", name, None, opts)
        dist = dist_dir()
        wanted = {h.name: binaries_for(ctx.spec, h) for h in ctx.spec.hosts}
        manifest = load_manifest(dist) if any(wanted.values()) else {}
        placed: dict = {}
        summary: dict[str, dict[str, str]] = {}
        for host in ctx.spec.hosts:
            access = ctx.access(host.name)
            platform = platform_of(host)
            for binary in wanted[host.name]:
                source, sha = build_of(manifest, dist, platform, binary, host.name)
                path = posixpath.join(BIN_DIR, binary)
                artifact = Artifact(
                    f"{name}-{host.name}-{binary}", access.connection_dict(),
                    f"{binary} {platform}", source, sha, path,
                    opts=pulumi.ResourceOptions(parent=self))
                placed[(host.name, binary)] = Delivered(path, sha, artifact)
                summary.setdefault(host.name, {})[binary] = f"{platform} sha256:{sha[:12]}"
        # What later layers run (cloud.py hands both to the context).
        self.placed: dict[tuple[str, str], Delivered] = placed
        self.instance_artifacts = self._instance_artifacts(name, ctx, manifest, dist)
        packages = self._debian_packages(name, ctx, dist)
        self.runtimes: dict[str, PythonRuntime] = self._python_runtimes(name, ctx, dist, packages)
        # What each host needs before anything else runs there (cloud.py hands it to ctx).
        self.host_ready = {host: [resource] for host, resource in packages.items()}
        for host_name, runtime in self.runtimes.items():
            platform = platform_of(ctx.spec.host(host_name))
            summary.setdefault(host_name, {})[bundle.NAME] = f"{platform} sha256:{runtime.sha256[:12]}"
            summary[host_name][bundle.ENVIRONMENT] = \
                f"{platform} sha256:{runtime.environment_sha256[:12]}"
        self.binaries = pulumi.Output.from_input(summary)
        self.register_outputs({"binaries": self.binaries})

    def _instance_artifacts(self, name: str, ctx: CloudContext, manifest: dict,
                            dist: Path) -> dict[str, Delivered]:
        """{"<platform>/<binary>": Delivered}: the agents instances install, put below the
        artifact server's root (the Artifacts layer serves them)."""
        binaries = instance_binaries(ctx.spec)
        if not binaries:
            return {}
        host = ctx.spec.host(ctx.spec.placement.artifacts)
        access = ctx.access(host.name)
        manifest = manifest or load_manifest(dist)
        served = {}
        for binary in binaries:
            source, sha = build_of(manifest, dist, INSTANCE_PLATFORM, binary, host.name)
            key = f"{INSTANCE_PLATFORM}/{binary}"
            path = posixpath.join(INSTANCE_ARTIFACTS_ROOT, key)
            artifact = Artifact(f"{name}-{host.name}-instances-{INSTANCE_PLATFORM}-{binary}",
                                access.connection_dict(), f"{binary} {INSTANCE_PLATFORM} (instances)",
                                source, sha, path, mode="0644",
                                opts=pulumi.ResourceOptions(parent=self))
            served[key] = Delivered(path, sha, artifact)
        return served

    def _debian_packages(self, name: str, ctx: CloudContext, dist: Path) -> dict:
        """{host: DebianPackages}: every host installs the pinned packages it needs, from a
        repository of just those and their dependencies (hosts that need the same share one)."""
        installed, repos = {}, {}
        for host in ctx.spec.hosts:
            access = ctx.access(host.name)
            platform = platform_of(host)
            wanted = debian_packages_for(ctx.spec, host)
            key = (platform, tuple(wanted))
            if key not in repos and ctx.spec.packages.source == "mirror":
                repos[key] = (None, "")        # the hosts' own apt sources
            if key not in repos:
                try:
                    repos[key] = debs.repo(dist, platform, wanted)
                except FileNotFoundError:
                    raise MissingBuild(f"host {host.name} needs Debian packages for {platform}, "
                                       f"which are not fetched: run {_bootstrap_hint(platform)}") from None
            tar, sha = repos[key]
            bundle_path, after = None, []
            if ctx.spec.packages.source == "cloud":
                copy = Artifact(f"{name}-{host.name}-debian-repo", access.connection_dict(),
                                f"{debs.NAME} {platform}", str(tar), sha, DEBIAN_REPO,
                                mode="0644", opts=pulumi.ResourceOptions(parent=self))
                bundle_path, after = copy.path, [copy]
            installed[host.name] = DebianPackages(
                f"{name}-{host.name}-debian", access.connection_dict(), bundle_path, sha,
                DEBIAN_ROOT, debs.versions(dist, platform, wanted),
                mask=[u for p in wanted for u in DISTRO_UNITS_TO_MASK.get(p, ())],
                opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        return installed

    def _python_runtimes(self, name: str, ctx: CloudContext, dist: Path, packages: dict) -> dict:
        runtimes, bundles = {}, {}
        for host in ctx.spec.hosts:
            if not runs_services(ctx.spec, host):
                continue
            access = ctx.access(host.name)
            platform = platform_of(host)
            if platform not in bundles:
                try:
                    bundles[platform] = (bundle.build(dist, platform),
                                         bundle.environment(dist, platform))
                except (FileNotFoundError, subprocess.CalledProcessError) as exc:
                    raise MissingBuild(f"host {host.name} runs Mammatus' services, whose "
                                       f"{platform} bundle cannot be made ({exc}): "
                                       f"run {_bootstrap_hint(platform)}") from None
            (source, sha), (env_source, env_sha) = bundles[platform]
            child = pulumi.ResourceOptions(parent=self)
            copy = Artifact(f"{name}-{host.name}-services-bundle", access.connection_dict(),
                            f"{bundle.NAME} {platform}", str(source), sha,
                            SERVICES_BUNDLE, mode="0644", opts=child)
            env_copy = Artifact(f"{name}-{host.name}-services-environment",
                                access.connection_dict(), f"{bundle.ENVIRONMENT} {platform}",
                                str(env_source), env_sha, SERVICES_ENVIRONMENT, mode="0644",
                                opts=child)
            root = SERVICES_ROOT
            after = [copy, env_copy, *([packages[host.name]] if host.name in packages else [])]  # python3-venv
            runtime = ServicesRuntime(f"{name}-{host.name}-services", access.connection_dict(),
                                      copy.path, sha, env_copy.path, env_sha, root,
                                      opts=pulumi.ResourceOptions(parent=self, depends_on=after))
            runtimes[host.name] = PythonRuntime(python_of(root, env_sha), source_of(root, sha), sha,
                                                runtime, env_sha)
        return runtimes
