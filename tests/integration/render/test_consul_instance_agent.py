"""An instance's Consul agent as the cloud configures it, against a real Consul 1.16.1 server
(tools/consul): the rendered agent config (auto_encrypt TLS from the servers, ACLs, gossip key)
with the secrets file the metadata service serves, its token made by the ACL provider with
the instance's node and service identities, and the anonymous DNS policy on the server.

What the e2e test repeats on the dev stack: the agent joins by itself, the service of its
user-data registers and resolves through Consul DNS without a token; what the token does not
name is refused, and the KV store stays closed to anonymous readers."""

import json
import subprocess
import uuid

import dill
import pytest

from components.render import consul
from dynamic_providers.consul_acl import ConsulAclTokenProvider, ConsulAnonymousPolicyProvider
from tests.support import consul as real
from tests.support.daemons import stop, wait_for

pytestmark = pytest.mark.integration

SERVICES = {"web.json": {"service": {"name": "web", "port": 8080}},
            # Not among the token's service identities: Consul must refuse it.
            "db.json": {"service": {"name": "db", "port": 5432}}}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("consul-instance")
    server = real.start_server(tmp)
    token = str(uuid.uuid4())
    acl = {"url": server.url, "ca_pem": server.ca_pem, "management_token": server.management_token}
    tokens = ConsulAclTokenProvider()
    made = tokens.create(tokens.check({}, {**acl, "secret_id": token, "node_name": "web-1",
                                           "datacenter": real.DATACENTER, "services": ["web"],
                                           "description": "instance web-1"}).inputs)
    policies = dill.loads(dill.dumps(ConsulAnonymousPolicyProvider(), recurse=True))
    checked = policies.check({}, {**acl, "name": consul.DNS_POLICY_NAME,
                                  "rules": consul.DNS_POLICY_RULES, "description": "dns"})
    assert checked.failures == []
    policy = policies.create(checked.inputs)
    agent, log = real.instance_agent(server, tmp, "web-1", token, SERVICES)
    yield {"server": server, "token": token, "log": log, "agent": agent, "policies": policies,
           "policy": policy, "acl_token": made}
    stop(agent)
    real.stop_server(server)


def dig(server, name: str, kind: str = "A") -> list[str]:
    out = subprocess.run(["dig", "+short", "+time=2", "+tries=2", "-p", str(server.ports.dns),
                          "@127.0.0.1", name, kind], capture_output=True, text=True, timeout=30)
    return out.stdout.split()


def test_the_agent_joins_with_its_key_and_gets_its_certificate_from_the_servers(cloud):
    server = cloud["server"]
    wait_for(lambda: {m["Name"]: m["Status"] for m in server.members()}.get("web-1") == 1,
             "web-1 alive in the server's members", attempts=150, delay=0.2,
             proc=cloud["agent"], log=cloud["log"])
    with open(cloud["log"]) as f:
        log = f.read()
    # Its RPC certificate came from the servers (the servers verify every agent's RPC).
    assert "agent.auto_config: automatically upgraded to TLS" in log


def test_its_service_registers_and_resolves_through_dns_without_a_token(cloud):
    server = cloud["server"]
    wait_for(lambda: dig(server, "web.service.consul") == ["127.0.0.1"],
             "web.service.consul from the server's DNS", attempts=150, delay=0.2,
             proc=cloud["agent"], log=cloud["log"])
    srv = dig(server, "web.service.consul", "SRV")
    assert "8080" in srv
    assert dig(server, "web-1.node.consul") == ["127.0.0.1"]


def test_a_service_its_token_does_not_name_is_refused(cloud):
    server = cloud["server"]
    status, body = server.api("GET", "/v1/catalog/services", server.management_token)
    assert status == 200 and "web" in json.loads(body) and "db" not in json.loads(body)
    assert dig(server, "db.service.consul") == []
    with open(cloud["log"]) as f:
        assert "Permission denied" in f.read()


def test_anonymous_requests_still_cannot_read_the_kv_store_or_write(cloud):
    server = cloud["server"]
    assert server.api("PUT", "/v1/kv/app/config", server.management_token, b"v1")[0] == 200
    assert server.api("GET", "/v1/kv/app/config")[0] == 403
    assert server.api("PUT", "/v1/kv/app/config", body=b"anonymous")[0] == 403
    assert server.api("GET", "/v1/acl/tokens")[0] == 403
    # Reading names is what it may do (DNS, and the same through the catalog).
    status, body = server.api("GET", "/v1/catalog/services")
    assert status == 200 and "web" in json.loads(body)


def test_the_policy_reads_back_and_its_delete_unlinks_it_from_the_anonymous_token(cloud):
    policies, policy, server = cloud["policies"], cloud["policy"], cloud["server"]
    assert not policies.diff(policy.id, policy.outs, policy.outs).changes
    read = policies.read(policy.id, policy.outs)
    assert read.id == policy.id and read.outs["rules"] == consul.DNS_POLICY_RULES
    # A second create (a lost state) finds the same policy.
    assert policies.create(policy.outs).id == policy.id
    policies.delete(policy.id, policy.outs)
    status, body = server.api("GET", "/v1/acl/token/00000000-0000-0000-0000-000000000002",
                              server.management_token)
    assert status == 200 and not json.loads(body).get("Policies")
    # Default deny again: the catalog filters every name out, DNS answers nothing.
    assert json.loads(server.api("GET", "/v1/catalog/services")[1]) == {}
    assert dig(server, "web.service.consul") == []
    assert policies.read(policy.id, policy.outs).id is None
