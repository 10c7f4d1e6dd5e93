#!/usr/bin/env bash
# Graphviz, to draw stack pictures (tools/diagram) and check the DOT they produce.
set -euo pipefail
apt_install graphviz
