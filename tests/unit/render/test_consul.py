import json

import pytest

from components.render import consul

TLS = consul.TlsFiles("/etc/c/root.crt", "/etc/c/consul.crt", "/etc/c/consul.key")


def _server(**over):
    args = {"node_name": "c1", "address": "10.0.0.2", "servers": ["10.0.0.2", "10.0.0.3"],
            "datacenter": "home", "domain": "consul", "tls": TLS, **over}
    return json.loads(consul.server_config(**args))


def test_consul_server_bootstraps_with_its_peers_on_its_lan_address():
    config = _server()
    assert config["server"] is True and config["bootstrap_expect"] == 2
    assert config["retry_join"] == ["10.0.0.3:8301"]
    assert config["bind_addr"] == config["advertise_addr"] == config["client_addr"] == "10.0.0.2"
    assert "0.0.0.0" not in json.dumps(config)
    assert config["ui_config"] == {"enabled": True}


def test_the_api_is_https_only_and_grpc_off():
    ports = _server()["ports"]
    assert (ports["http"], ports["https"], ports["grpc"], ports["grpc_tls"]) == (-1, 8501, -1, -1)
    moved = _server(ports=consul.Ports(https=1, dns=2, server=3, serf_lan=4, serf_wan=5))
    assert moved["ports"]["serf_lan"] == 4 and moved["retry_join"] == ["10.0.0.3:4"]


def test_acls_default_deny_and_gossip_verified_both_ways():
    config = _server()
    assert config["acl"] == {"enabled": True, "default_policy": "deny",
                             "down_policy": "extend-cache", "enable_token_persistence": False}
    assert config["encrypt_verify_incoming"] is config["encrypt_verify_outgoing"] is True
    assert config["disable_remote_exec"] is True and config["enable_script_checks"] is False


def test_tls_from_the_given_files_rpc_verified_both_ways_api_by_token():
    tls = _server()["tls"]
    assert tls["defaults"]["ca_file"] == "/etc/c/root.crt"
    assert (tls["defaults"]["cert_file"], tls["defaults"]["key_file"]) == (TLS.cert_file, TLS.key_file)
    assert tls["defaults"]["verify_incoming"] is tls["defaults"]["verify_outgoing"] is True
    assert tls["internal_rpc"] == {"verify_server_hostname": True}
    assert tls["https"] == {"verify_incoming": False}
    assert consul.server_name("home", "consul") == "server.home.consul"


def test_the_public_config_holds_no_secret_and_the_secrets_file_all_of_them():
    assert "encrypt" not in _server() and "tokens" not in _server()["acl"]
    secrets = json.loads(consul.secrets_config("k==", "agent-t", "mgmt-t"))
    assert secrets == {"encrypt": "k==", "acl": {"tokens": {"agent": "agent-t",
                                                            "initial_management": "mgmt-t"}}}
    assert "initial_management" not in json.loads(consul.secrets_config("k==", "a"))["acl"]["tokens"]
    with pytest.raises(ValueError, match="gossip key"):
        consul.secrets_config("", "a")


def test_a_server_must_be_among_the_servers():
    with pytest.raises(ValueError, match="not among the servers"):
        _server(address="10.0.0.9")


def test_consul_agent_has_no_secret_and_checks_the_servers_with_the_root():
    config = json.loads(consul.agent_config(["10.0.0.2"], "home", "consul", "/etc/ssl/root.crt"))
    assert config["server"] is False and "encrypt" not in config and "tokens" not in config["acl"]
    assert config["retry_join"] == ["10.0.0.2"] and config["client_addr"] == "127.0.0.1"
    assert config["acl"]["default_policy"] == "deny"
    assert config["tls"]["defaults"]["ca_file"] == "/etc/ssl/root.crt"
    assert config["auto_encrypt"] == {"tls": True}
