#!/usr/bin/env bash
# Debian packages Mammatus' daemons and tests need, installed once (a no-op when present).
# Each tools/setup/<part>.sh adds its own (calling apt_install); this script runs them all.
set -euo pipefail
cd "$(dirname "$0")"

. ./lib.sh
export -f apt_install need_root

for part in ./*.sh; do
  case "$part" in ./system.sh|./lib.sh) continue ;; esac
  bash "$part"
done
