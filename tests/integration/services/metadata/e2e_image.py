"""The Debian 12 LXD image of the metadata e2e test: the dev stack's own instance image
(dynamic_providers/rootfs_image.py: debootstrap, systemd, cloud-init told only to seed NoCloud
from http://169.254.169.254/nocloud/), from the same machine-wide cache."""

from __future__ import annotations

from pathlib import Path

from dynamic_providers import rootfs_image


def ensure_image() -> Path:
    return Path(rootfs_image.ensure(rootfs_image.recipe()))


if __name__ == "__main__":
    print(ensure_image())
