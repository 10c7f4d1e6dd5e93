import json

import pytest

from components.serf import Serf
from tests.support.netlab import context, registered, stack_spec
from tests.support.pulumi_mocks import resolved


@pytest.fixture(scope="module")
def lab():
    ctx = context(stack_spec("lab"))
    mocks, serf = registered(lambda: Serf("cnc", ctx))
    return mocks, serf, ctx


def test_encrypt_key_is_a_32_byte_random_id(lab):
    mocks, _, _ = lab
    key = mocks.named("cnc-encrypt-key")
    assert key.typ == "random:index/randomId:RandomId" and key.inputs["byteLength"] == 32


def test_agent_on_every_host_with_role_tags_and_join_list(lab):
    mocks, _, ctx = lab
    for host in ctx.spec.hosts:
        write = mocks.inputs(f"cnc-{host.name}-config-write")
        assert write["mode"] == "0600"
        config = json.loads(write["content"])
        assert config["tags"]["roles"] == ",".join(sorted(r.value for r in host.roles))
        assert config["encrypt_key"] and len(config["encrypt_key"]) == 44
        expected = [] if host.name == "gw" else ["10.10.0.1:7946"]
        assert config["retry_join"] == expected
        run = mocks.inputs(f"cnc-{host.name}-agent-run")
        assert "serf agent -config-file=/etc/mammatus/serf/serf.json" in run["create"]


def test_handler_scripts_are_executable_files(lab):
    mocks, _, _ = lab
    write = mocks.inputs("cnc-node-1-handler-uptime-write")
    assert write["mode"] == "0755" and "uptime" in write["content"]
    assert mocks.inputs("cnc-node-1-handler-deploy-write")["content"].startswith("#!/bin/sh")


def test_join_addresses(lab):
    _, serf, _ = lab
    assert resolved(serf.join) == ["10.10.0.1:7946"]
