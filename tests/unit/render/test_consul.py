import json

from components.render import consul


def test_consul_server_bootstraps_with_its_peers():
    config = json.loads(consul.server_config("c1", "10.0.0.2", ["10.0.0.2", "10.0.0.3"], "k==",
                                             "home", "consul"))
    assert config["server"] is True and config["bootstrap_expect"] == 2
    assert config["retry_join"] == ["10.0.0.3"] and config["encrypt"] == "k=="
    assert config["ui_config"] == {"enabled": True}


def test_consul_agent_has_no_secret_without_a_key():
    config = json.loads(consul.agent_config(["10.0.0.2"], None, "home", "consul"))
    assert config["server"] is False and "encrypt" not in config
    assert config["retry_join"] == ["10.0.0.2"]
