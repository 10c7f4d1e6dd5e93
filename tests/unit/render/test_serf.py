import json

from components.render import serf
from stacks.spec import Host, StackSpec

SPEC = StackSpec(runDir="/var/lib/mammatus/t", hosts=[
    Host(name="gw", address="10.0.0.1", roles=["gateway"]),
    Host(name="control", address="10.0.0.2", roles=["control"]),
    Host(name="node-1", address="10.0.0.11", roles=["compute", "storage"]),
])


def test_everyone_joins_the_gateway_and_control_hosts():
    assert serf.join_addresses(SPEC) == ["10.0.0.1:7946", "10.0.0.2:7946"]


def test_host_config_tags_roles_and_skips_itself_in_retry_join():
    paths = serf.SerfPaths()
    config = json.loads(serf.host_config(SPEC, SPEC.host("gw"), "a2V5", paths))
    assert config["node_name"] == "gw" and config["bind"] == "10.0.0.1:7946"
    assert config["retry_join"] == ["10.0.0.2:7946"]
    assert config["encrypt_key"] == "a2V5" and config["rpc_addr"] == "127.0.0.1:7373"
    node = json.loads(serf.host_config(SPEC, SPEC.host("node-1"), "a2V5", paths))
    assert node["tags"] == {"roles": "compute,storage", "arch": "amd64",
                            "role-compute": "1", "role-storage": "1"}
    assert "query:uptime=/etc/mammatus/serf/handlers/uptime.sh" in node["event_handlers"]
    assert "user:deploy=/etc/mammatus/serf/handlers/deploy.sh" in node["event_handlers"]


def test_one_script_per_handler():
    files = serf.handler_files("/h")
    assert set(files) == {f"/h/{n}.sh" for n in serf.HANDLERS}
    assert all(text.startswith("#!/bin/sh\n") for text in files.values())
    assert "uptime" in files["/h/uptime.sh"]
