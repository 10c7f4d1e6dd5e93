#!/usr/bin/env bash
# Debian packages the tests of Mammatus' own resource providers (tools/providers) need:
# openssh-server, for the command:remote integration test (it starts its own sshd on 127.0.0.1).
# Idempotent; run as root. Never starts services (policy-rc.d exit 101).
set -euo pipefail
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
