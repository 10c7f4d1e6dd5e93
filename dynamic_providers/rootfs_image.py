"""A Debian LXD image built with debootstrap on the machine running Pulumi, as a resource.

The dev stack cannot reach an image server, so its instances boot an image built here from the
Debian mirror apt is configured with: systemd, cloud-init, openssh-server, ifupdown +
isc-dhcp-client (cloud-init's ENI renderer, as in Debian's cloud images; systemd-networkd
would wait forever for udev, which does not run in a container). The rest is what an
unprivileged container on this kind of machine needs to boot with 0 failed units:
python3-cffi-backend and dbus (debootstrap cannot resolve a virtual dependency of
python3-cryptography), the en_US.UTF-8 locale (cloud-init's locale step fails without it) and a
masked systemd-binfmt.service.

cloud-init in the image knows one thing: the datasource (`cloud_cfg`, by default NoCloud seeded
from the metadata service at 169.254.169.254). LXD's own datasource is not listed, so an
instance's data must come from the cloud's metadata service.

The result is an LXD unified tarball (metadata.yaml + rootfs/) named by a digest of the recipe,
in a machine-wide cache (`/var/cache/mammatus/images`), so clean checkouts and later stacks reuse
it. `delete` keeps the cached file: destroying a stack must not cost the next `up` a rebuild
(remove the cache directory by hand to reclaim the space). A recipe change replaces the resource
and builds a new file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult
from pulumi.dynamic import ResourceProvider, UpdateResult

CACHE_DIR = "/var/cache/mammatus/images"
SUITE = "bookworm"
# python3-boto3: an instance talks to the cloud's S3, SQS and SNS with the AWS SDK out of the
# box, as on a cloud's own images.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "cloud-init", "openssh-server", "iproute2",
            "ifupdown", "isc-dhcp-client", "python3-cffi-backend", "locales",
            "ca-certificates", "sudo", "python3-boto3")
METADATA_SEED = "http://169.254.169.254/nocloud/"
# The dev stack's hosts (components/dev_box.py): a Debian server as an installer leaves it, with
# no cloud-init (its first boot would replace the host keys the dev box pins). curl and dig are
# the admin's tools on a real host too.
HOST_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "ifupdown",
                 "locales", "ca-certificates", "python3", "curl", "bind9-dnsutils", "procps",
                 "openssl")


def nocloud_cfg(seed_url: str = METADATA_SEED) -> str:
    """cloud-init's datasource config: NoCloud from the metadata service, nothing else."""
    return ("# Mammatus: instances take their data from the cloud's metadata service only.\n"
            "datasource_list: [NoCloud, None]\n"
            "datasource:\n  NoCloud:\n"
            f"    seedfrom: {seed_url}\n")


def recipe(suite: str = SUITE, packages=PACKAGES, cloud_cfg: Optional[str] = None) -> dict:
    """An instance image (cloud-init knowing the metadata service) unless `packages` leave out
    cloud-init (then there is no datasource to configure)."""
    if "cloud-init" not in packages:
        return {"suite": suite, "packages": sorted(packages), "cloud_cfg": ""}
    return {"suite": suite, "packages": sorted(packages), "cloud_cfg": cloud_cfg or nocloud_cfg()}


def host_recipe(suite: str = SUITE) -> dict:
    return recipe(suite, HOST_PACKAGES)


def recipe_digest(props: dict) -> str:
    """Names the tarball: the same recipe is the same file (the last item: this builder's
    version, raised when _build changes)."""
    key = [props["suite"], sorted(props["packages"]), props["cloud_cfg"], 3]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]


def tarball_path(props: dict) -> str:
    cache = props.get("cache_dir") or CACHE_DIR
    kind = "cloudinit" if "cloud-init" in props["packages"] else "host"
    return os.path.join(cache, f"debian-{props['suite']}-{kind}-lxd-{recipe_digest(props)}.tar")


def apt_mirror(sources_dir: str = "/etc/apt/sources.list.d",
               sources_list: str = "/etc/apt/sources.list") -> str:
    """The Debian mirror apt is configured with (deb822 sources first, then sources.list)."""
    for path in sorted(Path(sources_dir).glob("*.sources")):
        match = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", path.read_text(), re.M)
        if match:
            return match.group(1)
    text = Path(sources_list).read_text() if Path(sources_list).exists() else ""
    match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text, re.M)
    if not match:
        raise RuntimeError("no Debian mirror in apt's sources: debootstrap needs one")
    return match.group(1)


def debootstrap_argv(props: dict, root: str, mirror: str) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(sorted(props['packages']))}",
            props["suite"], root, mirror]


def image_metadata(props: dict) -> str:
    kind = "with cloud-init" if "cloud-init" in props["packages"] else "host"
    return ("architecture: x86_64\ncreation_date: 1700000000\n"
            f"properties: {{description: Debian {props['suite']} {kind} (Mammatus),"
            f" os: debian, release: {props['suite']}}}\n")


def _chroot(root: Path, *cmd: str) -> None:
    subprocess.run(["chroot", str(root), *cmd], check=True, capture_output=True)


def _build(props: dict, dest: Path) -> None:
    work = Path(tempfile.mkdtemp(dir=dest.parent, prefix="build."))
    try:
        root = work / "rootfs"
        run = subprocess.run(debootstrap_argv(props, str(root), props.get("mirror") or apt_mirror()),
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"debootstrap failed ({run.returncode}): {run.stderr[-2000:] or run.stdout[-2000:]}")
        (root / "etc/locale.gen").write_text("en_US.UTF-8 UTF-8\n")
        _chroot(root, "locale-gen")
        (root / "etc/network/interfaces").write_text(
            "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n")
        _chroot(root, "systemctl", "mask", "systemd-binfmt.service")
        if props["cloud_cfg"]:
            (root / "etc/cloud/cloud.cfg.d/90-mammatus.cfg").write_text(props["cloud_cfg"])
        # No /etc/hostname: systemd keeps the name LXD gives the container (the instance's),
        # which is what its first DHCP request sends, before cloud-init runs.
        (root / "etc/hostname").unlink(missing_ok=True)
        (root / "etc/machine-id").write_text("")  # systemd makes one per instance
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
        (work / "metadata.yaml").write_text(image_metadata(props))
        partial = dest.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(work / "metadata.yaml", arcname="metadata.yaml")
            tar.add(root, arcname="rootfs")
        partial.replace(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure(props: dict) -> str:
    """The recipe's tarball, built once (concurrent builders wait for each other)."""
    dest = Path(tarball_path(props))
    if dest.exists():
        return str(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not dest.exists():
            _build(props, dest)
    return str(dest)


def check_props(news: dict) -> list[CheckFailure]:
    failures = []
    if not re.fullmatch(r"[a-z]+", str(news.get("suite", ""))):
        failures.append(CheckFailure("suite", f"must be a Debian suite name, got {news.get('suite')!r}"))
    packages = news.get("packages")
    if not isinstance(packages, list) or not all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", str(p))
                                                 for p in packages):
        failures.append(CheckFailure("packages", f"must be a list of Debian package names, got {packages!r}"))
    elif "systemd" not in packages:
        failures.append(CheckFailure("packages", "an image needs systemd (PID 1 of the container)"))
    elif "cloud-init" in packages and not str(news.get("cloud_cfg", "")).strip():
        failures.append(CheckFailure("cloud_cfg", "must say where cloud-init finds its data"))
    return failures


RECIPE_KEYS = ("suite", "packages", "cloud_cfg", "cache_dir")


class RootfsImageProvider(ResourceProvider):
    def check(self, _olds, news):
        return CheckResult(news, check_props(news))

    def diff(self, _id, olds, news):
        changed = [k for k in RECIPE_KEYS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def _outs(self, props: dict, path: str) -> dict:
        return {**props, "path": path, "sha256": sha256_of(path), "size": os.path.getsize(path)}

    def create(self, props):
        path = ensure(props)
        return CreateResult(id_=recipe_digest(props), outs=self._outs(props, path))

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._outs(news, ensure(news)))

    def read(self, id_, props):
        path = tarball_path(props)
        if not os.path.exists(path):
            return ReadResult(None, {})  # the cache was cleared: the next `up` builds again
        if props.get("sha256") and os.path.getsize(path) == props.get("size"):
            return ReadResult(id_, props)
        return ReadResult(id_, self._outs(props, path))

    def delete(self, _id, _props):
        pass  # the cache outlives the stack (module docstring)


class RootfsImage(pulumi.dynamic.Resource, module="mammatus", name="RootfsImage"):
    """An LXD unified tarball of a Debian rootfs with cloud-init, built once and cached."""
    path: pulumi.Output[str]
    sha256: pulumi.Output[str]
    size: pulumi.Output[int]

    def __init__(self, resource_name: str, suite: str = SUITE, packages=PACKAGES,
                 cloud_cfg: Optional[str] = None, cache_dir: str = CACHE_DIR,
                 mirror: Optional[str] = None, opts: Optional[pulumi.ResourceOptions] = None):
        props: dict[str, Any] = {**recipe(suite, packages, cloud_cfg), "cache_dir": cache_dir,
                                 "mirror": mirror, "path": None, "sha256": None, "size": None}
        super().__init__(RootfsImageProvider(), resource_name, props, opts)
