"""The rendered Serf config loaded by the real `serf agent` (Debian's serf): two agents on
loopback join with the encrypt key, carry role tags and answer the `uptime` and `roles` queries
through the rendered handlers."""

import base64
import json
import os
import shutil
import subprocess

import pytest

from components.render import serf
from stacks.spec import Host
from tests.support.daemons import free_port, start, stop, wait_for

pytestmark = pytest.mark.integration

SERF = shutil.which("serf")
KEY = base64.b64encode(bytes(range(32))).decode()


def _agent(tmp_path, host, bind_port, rpc_port, join):
    root = tmp_path / host.name
    paths = serf.SerfPaths().under(lambda p: str(root) + p)
    for path, script in serf.handler_files(paths.handlers_dir).items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, 0o755)
    config = serf.agent_config(host.name, f"127.0.0.1:{bind_port}", KEY, serf.tags(host), join,
                               paths, rpc_addr=f"127.0.0.1:{rpc_port}")
    os.makedirs(os.path.dirname(paths.config), exist_ok=True)
    os.makedirs(os.path.dirname(paths.snapshot), exist_ok=True)  # the component's daemon does too
    with open(paths.config, "w") as f:
        f.write(config)
    log = str(root / "serf.log")
    return start([SERF, "agent", "-config-file", paths.config], log), f"127.0.0.1:{rpc_port}", log


def _serf(rpc, command, *args):
    return subprocess.run([SERF, command, f"-rpc-addr={rpc}", *args], capture_output=True, text=True,
                          timeout=30)


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    if SERF is None:
        pytest.fail("serf missing: run tools/setup/system.sh (tools/setup/platform.sh)")
    tmp = tmp_path_factory.mktemp("serf")
    gw = Host(name="gw", address="10.0.0.1", roles=["gateway", "control"])
    node = Host(name="node-1", address="10.0.0.11", roles=["compute"], arch="arm64")
    gw_port, node_port = free_port(), free_port()
    a, rpc_a, log_a = _agent(tmp, gw, gw_port, free_port(), [f"127.0.0.1:{gw_port}"])
    b, rpc_b, log_b = _agent(tmp, node, node_port, free_port(), [f"127.0.0.1:{gw_port}"])
    try:
        wait_for(lambda: _serf(rpc_a, "members", "-status=alive").stdout.count("alive") == 2,
                 "both agents alive in gw's member list", attempts=200, proc=b, log=log_b)
        yield {"gw": rpc_a, "node": rpc_b}
    finally:
        stop(b)
        stop(a)


def test_agents_join_with_their_role_tags(agents):
    members = json.loads(_serf(agents["node"], "members", "-format=json").stdout)["members"]
    by_name = {m["name"]: m for m in members}
    assert set(by_name) == {"gw", "node-1"}
    assert by_name["gw"]["tags"]["roles"] == "control,gateway"
    assert by_name["node-1"]["tags"] == {"roles": "compute", "arch": "arm64", "role-compute": "1"}
    compute = _serf(agents["gw"], "members", "-tag", "role-compute=1").stdout
    assert "node-1" in compute and "gw " not in compute


def test_uptime_query_is_answered_by_every_host(agents):
    out = json.loads(_serf(agents["gw"], "query", "-format=json", "-timeout=5s", "uptime").stdout)
    assert set(out["Responses"]) == {"gw", "node-1"}
    assert all("load average" in r for r in out["Responses"].values())


def test_roles_query_filtered_by_tag(agents):
    out = json.loads(_serf(agents["node"], "query", "-format=json", "-timeout=5s",
                           "-tag", "role-gateway=1", "roles").stdout)
    assert list(out["Responses"]) == ["gw"]
    assert out["Responses"]["gw"].strip() == "control,gateway"


def test_agent_refuses_a_config_it_does_not_know(tmp_path):
    paths = serf.SerfPaths().under(lambda p: str(tmp_path) + p)
    config = json.loads(serf.agent_config("x", "127.0.0.1:1", KEY, {}, [], paths))
    config["encrypt_key"] = "not-base64!"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    result = subprocess.run([SERF, "agent", "-config-file", str(bad)], capture_output=True,
                            text=True, timeout=10)
    assert result.returncode != 0 and "Invalid encryption key" in result.stdout + result.stderr
