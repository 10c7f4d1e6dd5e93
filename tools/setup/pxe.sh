#!/usr/bin/env bash
# What the PXE layer serves and what its boot test needs (tests/integration/render/test_pxe_boot.py):
# ipxe (BIOS undionly.kpxe, x86-64 UEFI ipxe.efi), Debian 12's netboot installers for amd64 (the
# kernel and initrd the iPXE script boots) and arm64 (its signed shim and GRUB: the ARM64 UEFI
# loader), the diskless VMs: qemu-system-x86 (SeaBIOS with QEMU's iPXE ROMs) with ovmf (UEFI),
# qemu-system-arm with qemu-efi-aarch64 (an ARM64 UEFI machine), and busybox-static (tftp; not
# busybox, which would replace the static build compute.sh's LXD test image needs) and udhcpc
# (a DHCP client that says which firmware it is).
set -euo pipefail
apt_install ipxe debian-installer-12-netboot-amd64 debian-installer-12-netboot-arm64 \
  qemu-system-x86 ovmf qemu-system-arm qemu-efi-aarch64 busybox-static udhcpc
