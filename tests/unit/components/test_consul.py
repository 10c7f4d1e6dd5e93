"""The Consul layer with mocks (home: three servers): each server's config on its LAN address,
its secrets in a 0600 file of the consul user's and secret in the state, its certificate from
the CA, its agent token made in Consul's ACLs once every server runs."""

import json

import pulumi
import pytest

from components.ca import CertificateAuthority
from components.consul import Consul
from components.contracts import WiringError
from tests.support.netlab import context, registered, stack_spec

TOKEN = "pulumi-python:dynamic/mammatus:ConsulAclToken"
SERVERS = {"control": "10.0.0.2", "compute-1": "10.0.0.11", "compute-2": "10.0.0.12"}


@pytest.fixture(scope="module")
def home():
    ctx = context(stack_spec("home"))

    def build():
        return Consul("consul", ctx, ca=CertificateAuthority("ca", ctx).handle)
    return registered(build)


def test_a_server_on_each_placed_host_on_its_lan_address_only(home):
    mocks, _ = home
    for host, address in SERVERS.items():
        config = json.loads(mocks.inputs(f"consul-{host}-config-write")["content"])
        assert config["server"] is True and config["bootstrap_expect"] == 3
        assert config["client_addr"] == config["bind_addr"] == address
        assert sorted(config["retry_join"]) == sorted(f"{a}:8301" for a in SERVERS.values()
                                                      if a != address)
        assert config["acl"]["default_policy"] == "deny"
        assert "encrypt" not in config and "tokens" not in config["acl"]
        assert mocks.inputs(f"consul-{host}-config-write")["connection"]["host"] == address
        run = mocks.inputs(f"consul-{host}-server-run")["create"]
        assert ("consul agent -config-file=/etc/mammatus/consul/consul.json "
                "-config-file=/etc/mammatus/consul/secrets.json") in run
        assert "User=consul" in run


def test_secrets_are_a_0600_file_of_the_consul_user_and_secret_in_the_state(home):
    mocks, _ = home
    seen = {}
    for host in SERVERS:
        write = mocks.named(f"consul-{host}-secrets-write")
        inputs = mocks.inputs(f"consul-{host}-secrets-write")
        assert (inputs["mode"], inputs["owner"]) == ("0600", "consul:consul")
        assert "4dabf18193072939515e22adb298388d" in json.dumps(write.inputs["content"])  # secret
        seen[host] = json.loads(inputs["content"])
        key = mocks.inputs(f"consul-{host}-key-write")
        assert (key["mode"], key["owner"]) == ("0600", "consul:consul")
    # One gossip key and one management token for all; an agent token of its own each.
    assert len({s["encrypt"] for s in seen.values()}) == 1
    assert len({s["acl"]["tokens"]["initial_management"] for s in seen.values()}) == 1
    agents = {s["acl"]["tokens"]["agent"] for s in seen.values()}
    assert len(agents) == 3 and not agents & {seen["control"]["acl"]["tokens"]["initial_management"]}
    gossip = [r for r in mocks.resources if r.name == "consul-gossip-key"][0]
    assert gossip.typ == "random:index/randomBytes:RandomBytes" and gossip.inputs["length"] == 32


def test_each_certificate_names_the_host_and_the_servers_name(home):
    mocks, _ = home
    for host, address in SERVERS.items():
        csr = mocks.inputs(f"consul-{host}-tls-csr")
        assert csr["subject"]["commonName"] == f"{host}.mammatus"
        assert "server.mammatus.consul" in csr["dnsNames"] and csr["ipAddresses"] == [address]


def test_agent_tokens_are_made_over_https_after_every_server_runs(home):
    mocks, _ = home
    tokens = {r.name: r for r in mocks.of_type(TOKEN)}
    instances = [i.name for i in stack_spec("home").instances]
    assert set(tokens) == {f"consul-{h}-agent-acl" for h in [*SERVERS, *instances]}
    for host, address in SERVERS.items():
        token = mocks.inputs(f"consul-{host}-agent-acl")
        assert token["url"] == f"https://{address}:8501"
        assert (token["node_name"], token["datacenter"]) == (host, "mammatus")
        assert "BEGIN CERTIFICATE" in token["ca_pem"]
        secrets = json.loads(mocks.inputs(f"consul-{host}-secrets-write")["content"])
        assert token["secret_id"] == secrets["acl"]["tokens"]["agent"]
        assert token["management_token"] == secrets["acl"]["tokens"]["initial_management"]


def test_consul_without_the_ca_is_a_wiring_error():
    ctx = context(stack_spec("home"))
    with pytest.raises(WiringError, match="placement.ca"):
        Consul("consul-no-ca", ctx, opts=pulumi.ResourceOptions())


def test_each_instance_has_a_token_of_its_own_and_its_secrets_for_the_inventory(home):
    from tests.support.pulumi_mocks import resolved

    mocks, consul = home
    spec = stack_spec("home")
    seen = {}
    for inst in spec.instances:
        token = mocks.inputs(f"consul-{inst.name}-agent-acl")
        assert token["node_name"] == inst.name and token["url"] == "https://10.0.0.2:8501"
        assert token["services"] == sorted(inst.consul_services)
        secrets = json.loads(resolved(consul.instance_secrets[inst.name]))
        assert secrets["acl"]["tokens"] == {"agent": token["secret_id"], "default": token["secret_id"]}
        seen[inst.name] = secrets
    servers = json.loads(mocks.inputs("consul-control-secrets-write")["content"])
    # The cluster's gossip key, and never a server's token or the management token.
    assert {s["encrypt"] for s in seen.values()} == {servers["encrypt"]}
    assert len({s["acl"]["tokens"]["agent"] for s in seen.values()}) == len(spec.instances)
    assert not {s["acl"]["tokens"]["agent"] for s in seen.values()} & set(servers["acl"]["tokens"].values())


def test_requests_without_a_token_may_read_names_for_dns_and_nothing_else(home):
    mocks, _ = home
    (policy,) = mocks.of_type("pulumi-python:dynamic/mammatus:ConsulAnonymousPolicy")
    rules = policy.inputs["rules"]
    assert 'service_prefix ""' in rules and 'node_prefix ""' in rules
    assert "key" not in rules and "write" not in rules and "acl" not in rules
