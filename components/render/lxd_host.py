"""What a compute host's LXD is set up with: its preseed, the subordinate ids its unprivileged
instances need when the host is itself in a user namespace, the command that trusts Mammatus'
client certificate and prints the server's, and how that certificate is read back.
Pure texts for the Compute layer (components/compute.py); tests/integration/dynamic_providers/
test_lxd.py runs them against a real LXD."""

from __future__ import annotations

import re
import shlex

import yaml

LXD_PORT = 8443
PRESEED_PATH = "/etc/mammatus/lxd/preseed.yaml"
CLIENT_CERT_PATH = "/etc/mammatus/lxd/mammatus-client.crt"


def preseed(address: str, pool: str = "default") -> str:
    """LXD's preseed for a compute host: API on the LAN address, a dir pool, no bridge (instances
    use macvlan profiles)."""
    return yaml.safe_dump({
        "config": {"core.https_address": f"{address}:{LXD_PORT}"},
        "storage_pools": [{"name": pool, "driver": "dir"}],
        "profiles": [{"name": "default", "description": "Mammatus: root disk only",
                      "devices": {"root": {"type": "disk", "path": "/", "pool": pool}}}],
    }, sort_keys=True)


LXD_DIR = "/var/lib/lxd"
PEM = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")

# Subordinate ids for LXD's unprivileged containers when the host is in a user namespace of its
# own (its uid_map is not the whole 32-bit range) and root's range (Debian's lxd package gives it
# 100000:10000001) does not fit inside it: root gets the ids from 1000000 up to what the host
# has. LXD restarts to take them.
SUBIDS = r"""
total=$(awk '{ n += $3 } END { print n }' /proc/self/uid_map)
if [ "$total" -lt 4294967295 ] && [ "$total" -gt 1065536 ]; then
  changed=
  for f in /etc/subuid /etc/subgid; do
    awk -F: -v t="$total" '$1 == "root" && $2 + $3 <= t { ok = 1 } END { exit !ok }' "$f" 2>/dev/null && continue
    { grep -v '^root:' "$f" 2>/dev/null; echo "root:1000000:$((total - 1000000))"; } > "$f.new"
    mv "$f.new" "$f"; changed=1
  done
  [ -z "$changed" ] || systemctl restart lxd.service
fi
"""


def trust_command(preseed_path: str, cert_path: str, lxd_dir: str = LXD_DIR) -> str:
    """Applies the preseed, trusts the client certificate (once), then prints the server's
    certificate (the provider pins it)."""
    p, c, d = shlex.quote(preseed_path), shlex.quote(cert_path), shlex.quote(lxd_dir)
    return (f"export LXD_DIR={d} && lxd waitready --timeout 60 && lxd init --preseed < {p} && "
            f"fp=$(openssl x509 -in {c} -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f) && "
            f"(lxc config trust list --format csv | grep -q \"$(echo $fp | cut -c1-12)\" || "
            f"lxc config trust add {c} --name mammatus) && cat {d}/server.crt")


def server_cert_of(stdout: str) -> str:
    """The server certificate out of the trust command's output."""
    found = PEM.findall(stdout or "")
    return found[-1] + "\n" if found else ""
