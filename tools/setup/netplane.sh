#!/usr/bin/env bash
# The dev stack's network plane and its tests: ip (iproute2) and ping.
set -euo pipefail
apt_install iproute2 iputils-ping
