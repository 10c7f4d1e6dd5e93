"""A real Debian 12 LXD image for the metadata e2e test: systemd, cloud-init, openssh-server.

Built once with debootstrap from the mirror apt is configured with, cached as an LXD unified
tarball in .cache/metadata/. cloud-init in it is told one thing only: NoCloud, seeded from
http://169.254.169.254/nocloud/ (LXD's own datasource is turned off, so the data must come from
the metadata service). The tweaks below are the ones the cloud-in-a-box issue found necessary
for an unprivileged container on this kind of machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tests.support.paths import ROOT

CACHE = ROOT / ".cache" / "metadata"
# ifupdown + isc-dhcp-client: cloud-init's ENI renderer, as in Debian 12's cloud images
# (systemd-networkd would wait forever for udev, which does not run in the container).
PACKAGES = ["systemd", "systemd-sysv", "dbus", "cloud-init", "openssh-server", "iproute2",
            "ifupdown", "isc-dhcp-client", "python3-cffi-backend", "locales",
            "ca-certificates", "sudo"]
CLOUD_CFG = """\
# Mammatus e2e: the only thing this image knows is where the metadata service is.
datasource_list: [NoCloud, None]
datasource:
  NoCloud:
    seedfrom: http://169.254.169.254/nocloud/
"""


# The recipe names the cached tarball: change it and the image is rebuilt.
RECIPE = hashlib.sha256(json.dumps([PACKAGES, CLOUD_CFG, 1]).encode()).hexdigest()[:12]
TARBALL = CACHE / f"debian-bookworm-cloudinit-lxd-{RECIPE}.tar"


def apt_mirror() -> str:
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", path.read_text(), re.M)
        if match:
            return match.group(1)
    text = Path("/etc/apt/sources.list").read_text() if Path("/etc/apt/sources.list").exists() else ""
    match = re.search(r"^deb\s+(\S+/debian)\s+bookworm", text, re.M)
    return match.group(1) if match else "http://deb.debian.org/debian"


def _chroot(root: Path, *cmd: str) -> None:
    subprocess.run(["chroot", str(root), *cmd], check=True, capture_output=True)


def build(dest: Path) -> None:
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="image."))
    try:
        root = work / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                        "bookworm", str(root), apt_mirror()], check=True, capture_output=True)
        (root / "etc/locale.gen").write_text("en_US.UTF-8 UTF-8\n")
        _chroot(root, "locale-gen")
        (root / "etc/network/interfaces").write_text(
            "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n")
        _chroot(root, "systemctl", "mask", "systemd-binfmt.service")
        (root / "etc/cloud/cloud.cfg.d/90-mammatus-e2e.cfg").write_text(CLOUD_CFG)
        (root / "etc/hostname").write_text("unconfigured\n")
        (root / "etc/machine-id").write_text("")  # systemd makes one per instance
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
        (work / "metadata.yaml").write_text(
            "architecture: x86_64\ncreation_date: 1700000000\n"
            "properties: {description: Debian 12 with cloud-init (mammatus e2e), os: debian,"
            " release: bookworm}\n")
        partial = dest.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(work / "metadata.yaml", arcname="metadata.yaml")
            tar.add(root, arcname="rootfs")
        partial.replace(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_image() -> Path:
    if TARBALL.exists():
        return TARBALL
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not TARBALL.exists():
            build(TARBALL)
    return TARBALL


if __name__ == "__main__":
    print(ensure_image())
