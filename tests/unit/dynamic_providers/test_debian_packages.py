from dynamic_providers.debian_packages import (DebianPackagesProvider, install_command,
                                               parse_query, query_command)

SHA = "ab" * 32


def test_from_our_repository_only_its_sources_are_read():
    cmd = install_command("/opt/mammatus/dist/debian.tar", "/opt/mammatus/apt", SHA,
                          {"serf": "0.8.2-1", "dnsmasq-base": "2.90-4~deb12u1"}, ["influxdb.service"])
    assert f"tar -xf /opt/mammatus/dist/debian.tar -C /opt/mammatus/apt/{SHA[:16]}" in cmd
    assert "-o Dir::Etc::SourceParts=/nonexistent" in cmd
    assert "install 'dnsmasq-base=2.90-4~deb12u1' serf=0.8.2-1" in cmd
    assert cmd.index("systemctl mask influxdb.service") < cmd.index(" install ")


def test_from_the_mirror_the_hosts_own_sources_give_the_same_pins():
    cmd = install_command("", "/opt/mammatus/apt", "", {"serf": "0.8.2-1"}, [])
    assert "SourceList" not in cmd and "apt-get -qq update" in cmd
    assert "install serf=0.8.2-1" in cmd and "tar " not in cmd


def test_query_and_parse():
    assert "dpkg-query -W" in query_command(["serf", "lxd"])
    out = "serf 0.8.2-1 installed\nlxd 5.0.2-5 not-installed\n"
    assert parse_query(out) == {"serf": "0.8.2-1"}


def test_a_removed_package_is_drift_and_a_new_repository_alone_is_not():
    provider = DebianPackagesProvider()
    olds = {"connection": {"host": "h"}, "root": "/opt/mammatus/apt", "bundle": "/b", "sha256": SHA,
            "packages": {"serf": "0.8.2-1"}, "mask": []}
    assert provider.diff("x", olds, {**olds, "packages": {"serf": "absent"}}).changes
    assert not provider.diff("x", olds, {**olds, "sha256": "cd" * 32}).changes


def test_check_names_what_is_missing():
    failures = DebianPackagesProvider().check({}, {"root": "apt", "bundle": "/b", "sha256": "x",
                                                   "packages": {}}).failures
    assert {f.property for f in failures} == {"root", "sha256", "packages"}
