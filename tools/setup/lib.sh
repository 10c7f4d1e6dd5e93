#!/usr/bin/env bash
# apt_install for tools/setup/*.sh: sourced by system.sh (which exports it to every part) and by
# a part run on its own.

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
