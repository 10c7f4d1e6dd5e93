#!/usr/bin/env bash
# Debian packages the block-storage layer needs: targetcli-fb (LIO's shell, python3-rtslib-fb).
# This kernel has no configfs target support, so targetcli can only be installed here, not used:
# see dynamic_providers/targetcli.py. Called by tools/setup/system.sh (exports apt_install).
set -euo pipefail
apt_install targetcli-fb
