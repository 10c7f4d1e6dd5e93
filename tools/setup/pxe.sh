#!/usr/bin/env bash
# What the PXE layer serves and what its boot test needs (tests/integration/render/test_pxe_boot.py):
# ipxe (BIOS undionly.kpxe, x86-64 UEFI ipxe.efi), Debian 12's netboot installers for amd64 (the
# kernel and initrd the iPXE script boots) and arm64 (its signed shim and GRUB: the ARM64 UEFI
# loader), qemu-system-x86 (the diskless VMs, SeaBIOS with QEMU's iPXE ROMs) and ovmf (their
# UEFI firmware), busybox (tftp), udhcpc (the DHCP client that says it is ARM64 UEFI).
set -euo pipefail
apt_install ipxe debian-installer-12-netboot-amd64 debian-installer-12-netboot-arm64 \
  qemu-system-x86 ovmf qemu-system-arm qemu-efi-aarch64 busybox udhcpc
