#!/usr/bin/env bash
# Debian packages Mammatus' daemons and tests need, installed once (a no-op when present).
# Each tools/setup/<part>.sh adds its own (calling apt_install); this script runs them all.
set -euo pipefail
cd "$(dirname "$0")"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "setup: installing Debian packages needs root (run as root, or install: $*)" >&2
    exit 1
  fi
}

# apt_install PKG... — installs what is missing, never starts services (policy-rc.d).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "${missing[@]}"
  echo "[setup] apt-get install ${missing[*]}"
  if [ ! -f /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  if [ -z "${MAMMATUS_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export MAMMATUS_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
export -f apt_install need_root

for part in ./*.sh; do
  [ "$part" = ./system.sh ] && continue
  bash "$part"
done
