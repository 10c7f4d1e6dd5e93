#!/usr/bin/env bash
# Debian packages the block-storage layer's tests need: targetcli-fb (LIO's shell,
# python3-rtslib-fb) and open-iscsi (the initiator instances use: its iscsiadm reads the node
# records their vendor-data writes). This kernel has no configfs target support, so targetcli can
# only be installed here, not used: see dynamic_providers/targetcli.py. Called by
# tools/setup/system.sh (exports apt_install).
set -euo pipefail
apt_install targetcli-fb open-iscsi
