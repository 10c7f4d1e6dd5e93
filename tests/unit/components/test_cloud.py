"""The wiring of components/cloud.py for each committed stack: which layers it builds, and that
what one layer provides reaches the layers that need it (seen in the resources those inputs
make)."""

import pytest

from components.cloud import MammatusCloud
from components.delivery import DIST_ENV
from tests.support.netlab import registered, stack_spec
from tests.unit.components.test_delivery import dist

COMMON = {"ssh", "delivery", "gateway", "firewall", "dhcp-dns-tftp", "networking", "ca", "serf",
          "nats", "notifications", "queues", "configuration", "metadata", "compute"}
LAYERS = {
    "dev": COMMON | {"monitoring", "telemetry", "alerts", "load-balancer", "object-storage",
                     "artifacts", "consul"},
    "lab": COMMON | {"monitoring", "consul", "vault", "telemetry", "block-storage", "artifacts",
                     "object-storage", "load-balancer"},
    "home": COMMON | {"monitoring", "consul", "vault", "telemetry", "block-storage", "artifacts",
                      "object-storage", "load-balancer", "functions"},
}


def build(stack, monkeypatch, tmp_path):
    monkeypatch.setenv(DIST_ENV, str(dist(tmp_path)))
    return registered(lambda: MammatusCloud(stack, stack_spec(stack)))


@pytest.mark.parametrize("stack", sorted(LAYERS))
def test_each_stack_builds_the_layers_its_placement_names(stack, monkeypatch, tmp_path):
    _, cloud = build(stack, monkeypatch, tmp_path)
    assert set(cloud.layers) == LAYERS[stack]
    assert (cloud.dev_box is not None) == (stack == "dev") == (cloud.client is not None)


def test_home_hands_each_layer_what_it_needs(monkeypatch, tmp_path):
    mocks, cloud = build("home", monkeypatch, tmp_path)
    names = {r.name for r in mocks.resources}
    # The CA's handle: SNS signs with a certificate from it, Vault, SNS, SQS and MinIO serve
    # TLS from it, and the functions connector serves TLS from it and verifies SNS and SQS
    # with its root; each Consul server's RPC and
    # API certificate comes from it.
    assert {"home-consul-control-tls-cert", "home-consul-compute-2-tls-cert",
            "home-notifications-signing-cert", "home-vault-tls-cert", "home-notifications-sns-tls-cert",
            "home-queues-sqs-tls-cert", "home-object-storage-tls-cert",
            "home-functions-ca-root", "home-functions-connector-tls-cert"} <= names
    # The DHCP server: the metadata service on control learns leases from the gateway's hook,
    # instances are named in dnsmasq, the load balancer's routes get DNS records.
    assert "home-metadata-lease-sync" in names
    assert any(n.startswith("home-compute-dhcp-name-") for n in names)
    assert "home-load-balancer-route-consul-record" in names
    # Monitoring serves HTTPS from the CA, and Telegraf verifies it with the root.
    assert {"home-monitoring-influxdb-tls-cert", "home-monitoring-telegraf-gateway-ca"} <= names
    # NATS' URL reaches both AWS-style services; SQS accepts SNS's key for sqs subscriptions.
    nats_url = cloud.layers["nats"].server.url
    for run in ("home-notifications-sns-run", "home-queues-sqs-run"):
        assert f"--nats {nats_url}" in mocks.inputs(run)["create"]
    assert any(n.startswith("home-queues-sub-") for n in names)
    # Monitoring's InfluxDB and the CA's root reach instances through vendor-data.
    assert set(cloud.context.vendor_data.parts) == {"consul", "vault", "telegraf", "ca", "iscsi"}
    # The queues reach Functions: the connector polls `jobs` for `thumbnail`.
    assert "home-functions-connector-config" in names
    assert '"queue": "jobs"' in mocks.inputs("home-functions-connector-config-write")["content"]


def test_block_storage_hands_instances_their_chap_passwords_and_initiator_config(monkeypatch, tmp_path):
    import yaml

    mocks, cloud = build("home", monkeypatch, tmp_path)
    inventory = yaml.safe_load(mocks.inputs("home-metadata-inventory-write")["content"])
    by_name = {i["name"]: i for i in inventory["instances"]}
    assert by_name["web-1"]["credentials"]["iscsi"] == {"media": "x" * 24}
    assert by_name["db-1"]["credentials"]["iscsi"] == {"db-data": "x" * 24}
    config = yaml.safe_load(mocks.inputs("home-metadata-config-write")["content"])
    nodes = config["vendor_data"]["iscsi"]["initiators"]["db-1"]["nodes"]
    assert [(n["volume"], n["target"]) for n in nodes] == [
        ("db-data", "iqn.2026-11.mammatus:storage-1.db-data")]
    assert "x" * 24 not in mocks.inputs("home-metadata-config-write")["content"]
    # The layer's resources keep their names (and URNs) where it is built now.
    assert "home-block-storage-volume-db-data" in {r.name for r in mocks.resources}


def test_real_hosts_without_a_host_key_are_pinned_on_first_use(monkeypatch, tmp_path):
    import pulumi

    mocks, cloud = build("home", monkeypatch, tmp_path)
    pins = {r.inputs["host"]: r for r in mocks.of_type("pulumi-python:dynamic/host:HostKeyPin")}
    assert set(pins) == {str(h.address) for h in stack_spec("home").hosts if not h.host_key}
    # Every file pushed to the gateway insists on the key pinned for it.
    files = [mocks.inputs(r.name)["connection"]
             for r in mocks.of_type("pulumi-python:dynamic/host:RemoteFile")]
    to_gateway = [c for c in files if c["host"] == "10.0.0.1"]
    assert to_gateway and all(c["host_key"] == "ssh-ed25519 AAAApinned-10.0.0.1" for c in to_gateway)
    assert isinstance(cloud.context.access("gateway").host_key, pulumi.Output)


def test_the_dev_stack_pins_the_keys_it_made_itself(monkeypatch, tmp_path):
    mocks, _ = build("dev", monkeypatch, tmp_path)
    assert not mocks.of_type("pulumi-python:dynamic/host:HostKeyPin")


def test_the_artifact_server_serves_instances_the_delivered_telegraf_by_name(monkeypatch, tmp_path):
    from tests.support.pulumi_mocks import resolved

    mocks, cloud = build("dev", monkeypatch, tmp_path)
    # Delivery puts the instances' Telegraf below the server's root on control, checked there.
    copy = mocks.inputs("dev-delivery-control-instances-linux-amd64-telegraf")
    assert (copy["path"], copy["mode"]) == ("/srv/mammatus/artifacts/linux-amd64/telegraf", "0644")
    sha = copy["sha256"]
    consul = mocks.inputs("dev-delivery-control-instances-linux-amd64-consul")["sha256"]
    sums = mocks.inputs("dev-artifacts-sums-linux-amd64-write")
    assert sums["content"] == f"{consul}  consul\n{sha}  telegraf\n"
    run = mocks.inputs("dev-artifacts-server-run")["create"]
    assert "-m services.artifacts --listen 198.51.100.2:8070 --root /srv/mammatus/artifacts" in run
    assert "User=mammatus-artifacts" in run
    record = mocks.named("dev-artifacts-record")
    assert (record.inputs["name"], record.inputs["address"]) == ("artifacts.dev.mammatus",
                                                                "198.51.100.2")
    server = cloud.layers["artifacts"]
    assert resolved(server.served) == {"linux-amd64/consul": consul, "linux-amd64/telegraf": sha}
