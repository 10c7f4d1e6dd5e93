"""Pinned Debian packages on an air-gapped host: a Debian 12 system container with no network
at all gets the repository Mammatus builds (tools/dist/debs.py) and installs the pins from it
with the provider's own command; dpkg's answer is parsed as `read` does, so a removed package
shows as drift and the same command puts it back."""

from __future__ import annotations

import shutil

import pytest

from dynamic_providers.debian_packages import install_command, parse_query, query_command
from tests.support.lxd import booted_container
from tests.support.paths import ROOT
from tools.dist import debs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("lxd", "lxc", "debootstrap", "ip")),
                       reason="needs lxd, debootstrap and iproute2 (tools/setup/metadata.sh)"),
]

DIST = ROOT / ".tools" / "dist"
WANTED = ["serf", "dnsmasq-base", "python3-venv"]


@pytest.fixture(scope="module")
def host():
    with booted_container("mddeb") as box:
        yield box


def test_an_offline_host_installs_the_pins_from_the_delivered_repository(host):
    tar, sha = debs.repo(DIST, "linux-amd64")
    pins = debs.versions(DIST, "linux-amd64", WANTED)
    assert host.sh("ip -o link | grep -v ' lo:'", check=False).stdout == ""   # no way out at all
    host.push(str(tar), "/opt/mammatus/dist/debian.tar")
    host.sh(install_command("/opt/mammatus/dist/debian.tar", "/opt/mammatus/apt", sha, pins,
                            mask=["influxdb.service"]), timeout=600)
    assert parse_query(host.sh(query_command(WANTED)).stdout) == pins
    assert "Agent Protocol" in host.sh("serf version").stdout       # it runs
    assert host.sh("systemctl is-enabled influxdb.service", check=False).stdout.strip() == "masked"
    # The host's own sources played no part: only our repository's lists exist.
    assert host.sh(f"ls /opt/mammatus/apt/{sha[:16]}/lists").stdout.strip()

    host.sh("dpkg -r serf")       # someone removes a package: read shows it
    assert "serf" not in parse_query(host.sh(query_command(WANTED)).stdout)
    host.sh(install_command("/opt/mammatus/dist/debian.tar", "/opt/mammatus/apt", sha, pins,
                            mask=[]), timeout=600)
    assert parse_query(host.sh(query_command(WANTED)).stdout) == pins


def test_the_repository_is_the_same_bytes_each_time():
    assert debs.repo(DIST, "linux-arm64") == debs.repo(DIST, "linux-arm64")
    index = debs.packages_index(DIST, "linux-arm64")
    assert "Package: serf\n" in index and "Architecture: arm64" in index
