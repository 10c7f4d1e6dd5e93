#!/usr/bin/env bash
# Debian packages the compute layer's integration tests need: lxd (Debian's LXD 5.0.2, the daemon
# the LXD provider is tested against; started by the test itself with a preseed — never
# `lxd init --auto`), busybox-static (the tiny rootfs of the test image; no image server is
# reachable here), squashfs-tools and xz-utils (LXD's image unpacking).
# Called by tools/setup/system.sh, which exports apt_install. Idempotent.
set -euo pipefail
apt_install lxd busybox-static squashfs-tools xz-utils
