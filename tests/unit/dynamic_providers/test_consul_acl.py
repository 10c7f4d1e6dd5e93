"""ConsulAclToken's calls and its patience, without a server (the real one:
tests/integration/dynamic_providers/test_consul_acl.py)."""

import json
import urllib.error

import pytest

from dynamic_providers import consul_acl
from dynamic_providers.consul_acl import ConsulAclError, ConsulAclTokenProvider

PROPS = {"url": "https://10.0.0.2:8501/", "ca_pem": "", "management_token": "mgmt",
         "secret_id": "s-1", "node_name": "control", "datacenter": "home", "description": "d"}


def test_the_token_travels_in_a_header_never_in_the_url():
    call = consul_acl.request(PROPS["url"], "PUT", "/v1/acl/token", "mgmt",
                              consul_acl.token_body(PROPS))
    assert call["url"] == "https://10.0.0.2:8501/v1/acl/token" and "mgmt" not in call["url"]
    assert call["headers"] == {"X-Consul-Token": "mgmt", "Content-Type": "application/json"}
    assert json.loads(call["body"]) == {
        "SecretID": "s-1", "Description": "d", "Local": False,
        "NodeIdentities": [{"NodeName": "control", "Datacenter": "home"}]}


def test_a_cluster_that_is_not_ready_is_waited_for_and_a_refusal_is_not():
    answers = iter([urllib.error.URLError(ConnectionRefusedError()),
                    (500, "No cluster leader"), (403, "ACL not found"), (200, "{}")])
    sleeps = []

    def send(_call, _ca):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer
    call = consul_acl.request(PROPS["url"], "GET", "/v1/acl/token/self", "mgmt")
    assert consul_acl.call_when_ready(call, "", 60, sleeps.append, send) == (200, "{}")
    assert len(sleeps) == 3
    # Permission denied is an answer (a token without the right), not a wait.
    assert consul_acl.call_when_ready(call, "", 60, sleeps.append,
                                      lambda *_: (403, "Permission denied")) == (403, "Permission denied")
    assert len(sleeps) == 3


def test_patience_runs_out_with_the_last_answer():
    call = consul_acl.request(PROPS["url"], "GET", "/v1/acl/token/self", "mgmt")
    with pytest.raises(ConsulAclError, match="not ready within 0 s: 500 No cluster leader"):
        consul_acl.call_when_ready(call, "", 0, lambda _: None, lambda *_: (500, "No cluster leader"))


def test_check_wants_https_and_every_name():
    checked = ConsulAclTokenProvider().check({}, {"url": "http://x:8500"})
    assert {f.property for f in checked.failures} == {
        "url", "management_token", "secret_id", "node_name", "datacenter"}
    assert ConsulAclTokenProvider().check({}, dict(PROPS)).failures == []


def test_a_new_secret_or_another_cluster_replaces_a_new_description_updates():
    provider = ConsulAclTokenProvider()
    olds = {**PROPS, "accessor_id": "a-1"}
    assert provider.diff("a-1", olds, {**PROPS, "secret_id": "s-2"}).replaces == ["secret_id"]
    assert provider.diff("a-1", olds, {**PROPS, "url": "https://10.0.0.3:8501"}).replaces == ["url"]
    plan = provider.diff("a-1", olds, {**PROPS, "description": "e"})
    assert plan.changes and not plan.replaces
    assert not provider.diff("a-1", olds, dict(PROPS)).changes     # accessor_id is an output


def test_an_instance_token_may_register_its_own_services_only():
    body = consul_acl.token_body({**PROPS, "node_name": "web-1", "services": ["web", "api"]})
    assert body["NodeIdentities"] == [{"NodeName": "web-1", "Datacenter": "home"}]
    assert body["ServiceIdentities"] == [{"ServiceName": "web"}, {"ServiceName": "api"}]
    assert "ServiceIdentities" not in consul_acl.token_body(PROPS)
    # A new service is an update of the same token, not a new one.
    olds = {**PROPS, "services": ["web"], "accessor_id": "a-1"}
    plan = ConsulAclTokenProvider().diff("a-1", olds, {**PROPS, "services": ["api", "web"]})
    assert plan.changes and not plan.replaces


def test_the_anonymous_token_keeps_an_operators_own_policies():
    anonymous = {"AccessorID": consul_acl.ANONYMOUS_ACCESSOR, "Description": "Anonymous Token",
                 "Policies": [{"ID": "p-1", "Name": "operator-own"}]}
    linked = consul_acl.anonymous_body(anonymous, "mammatus-dns-read", attach=True)
    assert linked["Policies"] == [{"ID": "p-1", "Name": "operator-own"}, {"Name": "mammatus-dns-read"}]
    again = consul_acl.anonymous_body({**anonymous, "Policies": linked["Policies"]},
                                      "mammatus-dns-read", attach=True)
    assert again["Policies"] == linked["Policies"]           # linked once
    unlinked = consul_acl.anonymous_body({**anonymous, "Policies": linked["Policies"]},
                                         "mammatus-dns-read", attach=False)
    assert unlinked["Policies"] == [{"ID": "p-1", "Name": "operator-own"}]
