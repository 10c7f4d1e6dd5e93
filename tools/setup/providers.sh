#!/usr/bin/env bash
# Debian packages the tests of Mammatus' own resource providers (tools/providers) need:
# openssh-server, for the command:remote integration test (it starts its own sshd on 127.0.0.1;
# the packaged service is never started). openssh-client (ssh-keygen) comes with it.
# Called by tools/setup/system.sh, which exports apt_install; also runs on its own (as root).
# Idempotent.
set -euo pipefail
declare -F apt_install >/dev/null || . "$(dirname "$0")/lib.sh"   # run on its own
apt_install openssh-server openssh-client
