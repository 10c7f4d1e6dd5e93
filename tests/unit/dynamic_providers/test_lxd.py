"""LXD request builders and answer parsers (the real daemon: tests/integration/…/test_lxd.py)."""

import dill
import pytest

from dynamic_providers.preview import UNKNOWN
from dynamic_providers import lxd


def test_profile_body_stringifies_values():
    body = lxd.profile_body("macvlan", {"limits.cpu": 2}, {"eth0": {"type": "nic", "nictype": "macvlan",
                                                                   "parent": "eth0", "mtu": 1500}})
    assert body == {"name": "macvlan", "description": "", "config": {"limits.cpu": "2"},
                    "devices": {"eth0": {"type": "nic", "nictype": "macvlan", "parent": "eth0",
                                         "mtu": "1500"}}}


def test_instance_body_limits_user_data_and_mac():
    body = lxd.instance_body({"name": "web-1", "image": "debian-bookworm",
                              "size": {"cpus": 2, "memory_mb": 1024, "disk_gb": 20},
                              "profiles": ["default", "macvlan"], "user_data": "#cloud-config\n{}\n",
                              "mac": "52:54:00:AA:BB:CC", "pool": "fast"})
    assert body["source"] == {"type": "image", "alias": "debian-bookworm"}
    assert body["type"] == "container" and body["profiles"] == ["default", "macvlan"]
    assert body["config"] == {"limits.cpu": "2", "limits.memory": "1024MiB",
                              "user.user-data": "#cloud-config\n{}\n",
                              "volatile.eth0.hwaddr": "52:54:00:aa:bb:cc"}
    assert body["devices"]["root"] == {"type": "disk", "path": "/", "pool": "fast", "size": "20GiB"}


def test_update_body_leaves_the_mac_alone():
    body = lxd.instance_update_body({"name": "x", "image": "i", "size": {}, "mac": "52:54:00:00:00:01"})
    assert "volatile.eth0.hwaddr" not in body["config"] and "source" not in body


def test_image_pull_and_state_bodies():
    body = lxd.image_pull_body("debian-bookworm", remote_alias="debian/12/cloud")
    assert body["source"] == {"type": "image", "mode": "pull", "protocol": "simplestreams",
                              "server": "https://images.linuxcontainers.org", "alias": "debian/12/cloud"}
    assert body["aliases"] == [{"name": "debian-bookworm"}]
    assert lxd.state_body("stop", force=True) == {"action": "stop", "timeout": 30, "force": True,
                                                  "stateful": False}
    with pytest.raises(ValueError):
        lxd.state_body("explode")


STATE = {"status": "Running", "network": {
    "eth0": {"type": "broadcast", "hwaddr": "52:54:00:AA:BB:CC", "addresses": [
        {"family": "inet", "address": "10.0.0.101", "netmask": "24", "scope": "global"},
        {"family": "inet6", "address": "fe80::1", "netmask": "64", "scope": "link"},
        {"family": "inet6", "address": "2001:db8::5", "netmask": "64", "scope": "global"}]},
    "lo": {"type": "loopback", "addresses": [{"family": "inet", "address": "127.0.0.1", "scope": "local"}]}}}


def test_parse_instance():
    meta = {"status": "Running", "profiles": ["default", "macvlan"], "architecture": "x86_64",
            "config": {"limits.cpu": "2", "user.user-data": "#cloud-config\n", "image.os": "Debian"}}
    found = lxd.parse_instance(meta, STATE)
    assert found["ipv4"] == ["10.0.0.101"] and found["ipv6"] == ["2001:db8::5"]
    assert found["mac"] == "52:54:00:aa:bb:cc" and found["status"] == "Running"
    assert found["limits"] == {"limits.cpu": "2"} and found["user_data"] == "#cloud-config\n"


def test_parse_instance_stopped_takes_the_mac_from_config():
    found = lxd.parse_instance({"status": "Stopped", "expanded_config": {"volatile.eth0.hwaddr": "00:16:3e:00:00:01"}},
                               {"status": "Stopped", "network": None})
    assert found["mac"] == "00:16:3e:00:00:01" and found["ipv4"] == [] and found["status"] == "Stopped"


def test_parse_profile_and_image():
    assert lxd.parse_profile({"name": "p", "config": None, "devices": {"eth0": {"type": "nic"}}}) == \
        {"name": "p", "description": "", "config": {}, "devices": {"eth0": {"type": "nic"}}}
    assert lxd.parse_image({"fingerprint": "ab", "aliases": [{"name": "z"}, {"name": "a"}],
                            "architecture": "x86_64", "size": 5})["aliases"] == ["a", "z"]


def test_checks():
    assert {f.property for f in lxd.check_instance({"name": "", "image": "", "size": {"cpus": 0},
                                                    "user_data": "#!/bin/sh",
                                                    "connection": {"endpoint": "http://x"}})} == \
        {"name", "image", "size", "user_data", "connection"}
    bad = lxd.check_profile({"name": "m", "devices": {"eth0": {"type": "nic", "nictype": "macvlan"}}})
    assert [f.property for f in bad] == ["devices"]
    assert [f.property for f in lxd.check_image({"alias": "a", "source": {}})] == ["source"]


def test_diff_replaces_only_on_identity():
    base = {"name": "web-1", "image": "debian-bookworm", "size": {"cpus": 1}, "mac": None,
            "connection": {"endpoint": "https://10.0.0.11:8443", "client_cert": "A"}}
    assert lxd.InstanceProvider().diff("web-1", base, {**base, "size": {"cpus": 2}}).replaces == []
    assert lxd.InstanceProvider().diff("web-1", base, {**base, "image": "ubuntu-noble"}).replaces == ["image"]
    # A new client certificate is not a new daemon; a new endpoint is.
    assert not lxd.InstanceProvider().diff("web-1", base, {**base, "connection": {**base["connection"], "client_cert": "B"}}).changes
    moved = {**base, "connection": {"endpoint": "https://10.0.0.12:8443"}}
    assert lxd.InstanceProvider().diff("web-1", base, moved).replaces == ["connection"]
    # Outputs never count as changes.
    assert not lxd.InstanceProvider().diff("web-1", {**base, "status": "Running"}, base).changes


def test_providers_pickle():
    for cls in (lxd.ProfileProvider, lxd.ImageProvider, lxd.InstanceProvider):
        assert isinstance(dill.loads(dill.dumps(cls())), cls)


def test_unknown_values_at_preview_are_not_failures():
    # A new stack's preview: the client certificate, and everything derived, is not known yet.
    news = {"name": "web-1", "image": "debian-bookworm", "size": {"cpus": 1},
            "user_data": UNKNOWN, "connection": {"endpoint": "https://10.0.0.11:8443",
                                                      "client_cert": UNKNOWN}}
    assert lxd.InstanceProvider().check({}, news).failures == []
    bad = {**news, "image": ""}
    assert [f.property for f in lxd.InstanceProvider().check({}, bad).failures] == ["image"]
