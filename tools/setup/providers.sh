#!/usr/bin/env bash
# Debian packages the tests of Mammatus' own resource providers (tools/providers) need:
# openssh-server, for the command:remote integration test (it starts its own sshd on 127.0.0.1;
# the packaged service is never started). openssh-client (ssh-keygen) comes with it.
# Called by tools/setup/system.sh, which exports apt_install; also runs on its own (as root).
# Idempotent.
set -euo pipefail
if declare -F apt_install >/dev/null; then
  apt_install openssh-server openssh-client
  exit 0
fi
if dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q 'ok installed'; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "providers.sh: run as root (needs: apt-get install openssh-server)" >&2
  exit 1
fi
if [ ! -f /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq openssh-server
