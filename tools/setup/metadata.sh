#!/usr/bin/env bash
# What the metadata service's tests and benchmark need on a fresh Debian 12 (run as root):
#   wrk                       benchmarks/metadata_wrk.py (load generator)
#   dnsmasq-base udhcpc       test_netns.py: a real DHCP lease for an "instance" namespace
#   iproute2                  ip netns / veth / bridge for that test
#   lxd debootstrap           the dev stack's compute host and test_lxd_e2e.py: a real Debian 12
#                             container (systemd + cloud-init) booted by an LXD started in a
#                             namespace; its image is built once with debootstrap from apt's
#                             mirror and cached in /var/cache/mammatus/images
#   cloud-init 22.4.2 (.deb)  downloaded with `apt-get download` and extracted into
#                             .cache/metadata/ -- never installed, so this machine's boot is
#                             untouched; the tests import it from there.
# Idempotent. Uses system.sh's apt_install when called from it; works standalone too.
set -euo pipefail
cd "$(dirname "$0")/../.."

declare -F apt_install >/dev/null || . tools/setup/lib.sh   # run on its own

apt_install wrk dnsmasq-base udhcpc iproute2 lxd debootstrap

# Same as tests/support/cloudinit.py's ensure_cloudinit(), done ahead of the test run.
cache=.cache/metadata
if [ ! -d "$cache/cloud-init-22.4.2/usr/lib/python3/dist-packages/cloudinit" ]; then
  mkdir -p "$cache"
  if ! ls "$cache"/cloud-init_22.4.2-*_all.deb >/dev/null 2>&1; then
    (cd "$cache" && { apt-get download cloud-init >/dev/null 2>&1 ||
                      { apt-get update -qq && apt-get download cloud-init >/dev/null; }; })
  fi
  deb=$(ls "$cache"/cloud-init_22.4.2-*_all.deb | tail -1)
  staging=$(mktemp -d "$cache/extract.XXXXXX")
  dpkg-deb -x "$deb" "$staging"
  rm -rf "$cache/cloud-init-22.4.2"
  mv "$staging" "$cache/cloud-init-22.4.2"
  echo "[setup] cloud-init 22.4.2 extracted into $cache/cloud-init-22.4.2"
fi
