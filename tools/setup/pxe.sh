#!/usr/bin/env bash
# iPXE boot images (BIOS undionly.kpxe, UEFI ipxe.efi) the DHCP/DNS/TFTP layer serves over TFTP.
set -euo pipefail
apt_install ipxe
