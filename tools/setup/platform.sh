#!/usr/bin/env bash
# Debian packages the platform service layers' tests need: serf (the real agent validates the
# rendered config and two agents answer a query in the integration test), influxdb (1.x; its
# `influxd config` loads the rendered influxdb.conf). step-ca, traefik come from Go modules / PyPI;
# telegraf, kapacitor, chronograf, grafana, ntopng, consul and vault are not in Debian bookworm.
# Called by tools/setup/system.sh, which exports apt_install. Idempotent.
set -euo pipefail
apt_install serf influxdb
