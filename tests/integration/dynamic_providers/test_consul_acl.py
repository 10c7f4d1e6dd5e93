"""ConsulAclToken against a real Consul 1.16.1 server from the rendered config (HTTPS from a test
CA, ACLs default deny): the server's own agent token, with its node identity, made with the
SecretID the agent already holds."""

import json

import dill
import pytest

from dynamic_providers.consul_acl import ConsulAclError, ConsulAclTokenProvider
from tests.support import consul as real

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = real.start_server(tmp_path_factory.mktemp("consul-acl"))
    yield server
    real.stop_server(server)


def _inputs(server, **over):
    return {"url": server.url, "ca_pem": server.ca_pem, "management_token": server.management_token,
            "secret_id": server.agent_token, "node_name": "server-1",
            "datacenter": real.DATACENTER, "description": "agent token of server-1", **over}


def test_the_agent_token_is_made_used_updated_read_and_deleted(server):
    provider = dill.loads(dill.dumps(ConsulAclTokenProvider(), recurse=True))
    checked = provider.check({}, _inputs(server))
    assert checked.failures == []
    created = provider.create(checked.inputs)
    status, body = server.api("GET", "/v1/acl/token/self", server.agent_token)
    token = json.loads(body)
    assert status == 200 and token["AccessorID"] == created.id
    assert token["NodeIdentities"] == [{"NodeName": "server-1", "Datacenter": real.DATACENTER}]
    # The token is the agent's own: it may write its node, not the KV store.
    assert server.api("PUT", "/v1/kv/x", server.agent_token, b"1")[0] == 403
    assert server.api("GET", "/v1/catalog/node/server-1", server.agent_token)[0] == 200

    # A second up changes nothing; a lost state finds the same token (no second one).
    assert not provider.diff(created.id, created.outs, created.outs).changes
    again = provider.create(checked.inputs)
    assert again.id == created.id
    # A new description is an update; a new SecretID a new token.
    news = {**created.outs, "description": "renamed"}
    plan = provider.diff(created.id, created.outs, news)
    assert plan.changes and not plan.replaces
    provider.update(created.id, created.outs, news)
    assert json.loads(server.api("GET", "/v1/acl/token/self", server.agent_token)[1])[
        "Description"] == "renamed"
    assert provider.diff(created.id, created.outs, {**created.outs, "secret_id": "x"}).replaces == [
        "secret_id"]

    read = provider.read(created.id, {**created.outs, "description": "renamed"})
    assert read.id == created.id and read.outs["node_name"] == "server-1"
    provider.delete(created.id, {**created.outs, "accessor_id": created.id})
    assert server.api("GET", "/v1/acl/token/self", server.agent_token)[0] == 403
    # Gone by hand or by delete: read says so, and the next up makes it again.
    assert provider.read(created.id, created.outs).id is None


def test_a_wrong_management_token_fails_once_the_patience_is_out(server, monkeypatch):
    # Consul answers a token it does not know as it answers before its ACLs are bootstrapped.
    import dynamic_providers.consul_acl as acl
    monkeypatch.setattr(acl, "PATIENCE", 2.0)
    provider = ConsulAclTokenProvider()
    with pytest.raises(ConsulAclError, match="not ready within 2 s: 403"):
        provider.create(provider.check({}, _inputs(
            server, management_token="00000000-0000-4000-8000-000000000000")).inputs)


def test_plain_http_is_refused_at_check():
    checked = ConsulAclTokenProvider().check({}, {"url": "http://10.0.0.2:8500",
                                                  "management_token": "m", "secret_id": "s",
                                                  "node_name": "n", "datacenter": "d"})
    assert [f.property for f in checked.failures] == ["url"]
