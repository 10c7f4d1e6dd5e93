import argparse

import pytest

from services.metadata.__main__ import parse_listen
from services.metadata.config import ConfigError, FileInventory, LxdInventory, parse_config


def test_full_config():
    config = parse_config("""
listen: 169.254.169.254:80
cloud: {name: home, domain: home.arpa}
tokens: {required: true, secret_file: /etc/mammatus/metadata/token.key}
identity:
  leases: [/var/lib/misc/dnsmasq.leases]
  inventories:
    - {type: file, path: /etc/mammatus/metadata/instances.yaml}
    - {type: lxd, endpoint: /var/lib/lxd/unix.socket, refresh_seconds: 2}
  proxies: [{address: 10.0.1.1, secret_file: /etc/mammatus/metadata/relay.key}]
""")
    assert config.tokens.required is True
    assert isinstance(config.identity.inventories[0], FileInventory)
    assert isinstance(config.identity.inventories[1], LxdInventory)
    assert config.identity.inventories[1].refresh_seconds == 2
    assert config.cloud.region == "home"  # default kept


def test_empty_config_has_defaults():
    config = parse_config("")
    assert config.tokens.required is False and config.identity.leases == []


@pytest.mark.parametrize("text,message", [
    ("tokens: {requird: true}", "tokens.requird"),
    ("identity: {inventories: [{type: nfs, path: /x}]}", "identity.inventories.0"),
    ("vendor_data: {consul: {retry_join: []}}", "vendor_data.consul.retry_join"),
    ("- a list", "must be a YAML mapping"),
    ("a: [", "not valid YAML"),
])
def test_config_errors_name_the_key(text, message):
    with pytest.raises(ConfigError) as err:
        parse_config(text, "metadata.yaml")
    assert message in str(err.value) and "metadata.yaml" in str(err.value)


def test_listen():
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("8080", "host:", "h:0", "h:70000", ":80"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected HOST:PORT"):
            parse_listen(bad)


def test_defaults_check_neighbours_and_limit_hops_and_callers():
    config = parse_config("")
    # The normal layout shares the instances' L2: the ARP entry must show the leased MAC.
    assert config.identity.neighbour_check is True
    assert config.tokens.hop_limit == 1
    assert config.long_poll.max_timeout_seconds == 300
    assert config.limits.connections_per_caller >= 1 and config.limits.long_polls_per_caller >= 1
    assert config.limits.idle_timeout_seconds > 0


@pytest.mark.parametrize("text,message", [
    ("long_poll: {max_timeout_seconds: 301}", "long_poll.max_timeout_seconds"),
    ("tokens: {hop_limit: 0}", "tokens.hop_limit"),
    ("tokens: {hop_limit: 65}", "tokens.hop_limit"),
    ("limits: {connections_per_caller: 0}", "limits.connections_per_caller"),
])
def test_caps_cannot_be_configured_away(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "metadata.yaml")
