#!/usr/bin/env bash
# Debian packages the network layers (gateway, firewall, dnsmasq, SSH access) and their tests need:
# dnsmasq-base (dnsmasq --test, the DHCP/DNS/TFTP integration test), iptables (iptables-restore
# --test in a test network namespace), openssh-server (sshd -t), bind9-dnsutils (dig), udhcpc
# (busybox's DHCP client for the reservation test), iproute2 (ip netns).
# Called by tools/setup/system.sh, which exports apt_install. Idempotent.
set -euo pipefail
apt_install dnsmasq-base iptables openssh-server bind9-dnsutils udhcpc iproute2
