"""Broken stack configs fail with one message naming the key and the problem."""

import copy

import pytest

from stacks.load import SpecError, load_stack_file, parse_spec, stack_file_section
from tests.support.paths import ROOT


def lab_section() -> dict:
    return stack_file_section(ROOT / "Pulumi.lab.yaml")


@pytest.mark.parametrize("stack", ["dev", "lab", "home"])
def test_committed_stacks_are_valid(stack):
    assert load_stack_file(ROOT / f"Pulumi.{stack}.yaml").run_dir.startswith("/var/lib/mammatus/")


def broken(edit) -> str:
    section = copy.deepcopy(lab_section())
    edit(section)
    with pytest.raises(SpecError) as err:
        parse_spec(section)
    return str(err.value)


def test_bad_cidr():
    def edit(s):
        s["network"]["lanSubnet"] = "10.10.0.1/24"
    assert "mammatus:network.lanSubnet: must be an IPv4 network" in broken(edit)


def test_dhcp_range_outside_the_subnet():
    def edit(s):
        s["network"]["dhcpRange"]["end"] = "10.10.1.10"
    assert "mammatus:network.dhcpRange.end: 10.10.1.10 is outside" in broken(edit)


def test_unknown_role():
    def edit(s):
        s["hosts"][1]["roles"] = ["compute", "toaster"]
    message = broken(edit)
    assert "mammatus:hosts[1].roles[1]:" in message and "'gateway'" in message


def test_duplicate_mac():
    def edit(s):
        s["network"]["reservations"][1]["mac"] = "52:54:00:00:00:11"
    assert "mammatus:network.reservations: MAC 52:54:00:00:00:11 is reserved twice" in broken(edit)


def with_pxe(**pxe):
    def edit(s):
        s["network"]["pxe"] = pxe
    return edit


def test_a_pxe_machine_with_a_bad_mac_fails_naming_its_key():
    message = broken(with_pxe(machines=[{"mac": "52:54:00:00:00", "name": "node-9"}]))
    assert "mammatus:network.pxe.machines[0].mac: must be a MAC address" in message


def test_pxe_machines_validate_name_preseed_and_kernel_args():
    assert "mammatus:network.pxe.machines[0].name:" in broken(with_pxe(
        machines=[{"mac": "52:54:00:00:00:31", "name": "Node_9"}]))
    assert "mammatus:network.pxe.machines[0].preseed:" in broken(with_pxe(
        machines=[{"mac": "52:54:00:00:00:31", "name": "n9", "preseed": "file:///etc/passwd"}]))
    assert "mammatus:network.pxe.machines[0].kernelArgs: must not hold ${" in broken(with_pxe(
        machines=[{"mac": "52:54:00:00:00:31", "name": "n9", "kernelArgs": "x=${root-path}"}]))
    assert "mammatus:network.pxe.machines[0].kernelArgs:" in broken(with_pxe(
        machines=[{"mac": "52:54:00:00:00:31", "name": "n9", "kernelArgs": "a\nchain http://x/"}]))
    assert "mammatus:network.pxe.machines[0].macAddress: unknown key" in broken(with_pxe(
        machines=[{"macAddress": "52:54:00:00:00:31", "mac": "52:54:00:00:00:31", "name": "n9"}]))


def test_pxe_machines_are_unique_and_need_mammatus_script():
    twice = [{"mac": "52:54:00:00:00:31", "name": "n9"}, {"mac": "52-54-00-00-00-31", "name": "n9"}]
    message = broken(with_pxe(machines=twice))
    assert "mammatus:network.pxe.machines: MAC 52:54:00:00:00:31 is given to two machines" in message
    assert "mammatus:network.pxe.machines: machine name 'n9' is used twice" in message
    one = [{"mac": "52:54:00:00:00:31", "name": "n9"}]
    assert "mammatus:network.pxe.ipxeScript: replaces the script" in broken(
        with_pxe(machines=one, ipxeScript="http://10.10.0.2/boot.ipxe"))
    assert "mammatus:network.pxe.machines: need network.pxe.enabled" in broken(
        with_pxe(machines=one, enabled=False))


def test_a_boot_file_stays_below_the_tftp_root():
    assert "mammatus:network.pxe.efiArm64BootFile:" in broken(with_pxe(efiArm64BootFile="/etc/shadow"))
    assert "mammatus:network.pxe.biosBootFile: must be a path below tftpRoot" in broken(
        with_pxe(biosBootFile="a/../../etc/shadow"))


def test_duplicate_address():
    def edit(s):
        s["hosts"][2]["address"] = "10.10.0.11"
    assert "mammatus:hosts: address 10.10.0.11 is given to two hosts" in broken(edit)


def test_service_on_a_missing_host():
    def edit(s):
        s["placement"]["metadata"] = "ghost"
    assert "mammatus:placement.metadata: host 'ghost' does not exist" in broken(edit)


def test_instance_on_a_host_without_compute():
    def edit(s):
        s["instances"][0]["host"] = "store-1"
    assert "mammatus:instances[0].host: host 'store-1' does not have the compute role" in broken(edit)


def test_unknown_key_is_named():
    def edit(s):
        s["network"]["dhcpRagne"] = {}
    assert "mammatus:network.dhcpRagne: unknown key" in broken(edit)


def dev_broken(edit) -> str:
    section = copy.deepcopy(stack_file_section(ROOT / "Pulumi.dev.yaml"))
    edit(section)
    with pytest.raises(SpecError) as err:
        parse_spec(section)
    return str(err.value)


def test_every_stack_offers_only_the_image_mammatus_builds():
    def edit(s):
        s["instances"][0]["image"] = "ubuntu-noble"
    for message in (dev_broken(edit), broken(edit)):
        assert "mammatus:instances[0].image: Mammatus builds only debian-bookworm" in message
        assert "'ubuntu-noble'" in message


def test_instances_on_an_arm64_compute_host_are_refused():
    def edit(s):
        s["hosts"][1]["arch"] = "arm64"
    assert "mammatus:hosts[1].arch: node-1 runs instances" in broken(edit)


def test_a_dev_host_cannot_take_this_machines_lan_address():
    def edit(s):
        s["hosts"][3]["address"] = "198.51.100.254"
    assert "mammatus:hosts[3].address: 198.51.100.254 is devBox.machineLanAddress" in dev_broken(edit)


def test_two_instances_cannot_share_a_mac():
    def edit(s):
        s["instances"].append({"name": "web2", "host": "compute", "mac": "00:16:3e:c6:98:d7"})
    dev = load_stack_file(ROOT / "Pulumi.dev.yaml")
    assert dev.instance_mac(dev.instances[0]) == "00:16:3e:c6:98:d7"   # derived, stable
    assert "mammatus:instances: MAC 00:16:3e:c6:98:d7 is given to two instances" in dev_broken(edit)


def test_metadata_without_the_clouds_dhcp_server_cannot_prove_identity():
    def edit(s):
        del s["network"]
        del s["gateway"]
        s["placement"].pop("dns", None)
        s["firewall"] = []
    assert ("mammatus:placement.metadata: the metadata service proves who asks by the cloud's "
            "DHCP leases") in broken(edit)


@pytest.mark.parametrize("service, needed", [("vault", "ca"), ("consul", "ca"), ("sns", "nats"),
                                             ("sqs", "nats")])
def test_a_service_placed_without_what_it_runs_on(service, needed):
    def edit(s):
        s["placement"].pop(needed)
    message = broken(edit)
    assert f"mammatus:placement.{service}: needs placement.{needed}:" in message


@pytest.mark.parametrize("section, placement", [
    ("topics", "sns"), ("queues", "sqs"), ("instances", "metadata")])
def test_a_section_without_the_service_that_deploys_it(section, placement):
    def edit(s):
        s["placement"].pop(placement)
        if section == "topics":
            s["queues"][0]["subscribeTo"] = []
    message = broken(edit)
    assert f"mammatus:{section}: need " in message and f"set placement.{placement}" in message


def test_functions_without_faasd():
    def edit(s):
        s["functions"] = [{"name": "resize", "image": "ghcr.io/example/resize:1"}]
    assert "mammatus:functions: need faasd: set placement.functions" in broken(edit)


def test_dead_letter_queues_that_form_a_cycle():
    def edit(s):
        s["queues"] = [{"name": "a", "deadLetterQueue": "b"}, {"name": "b", "deadLetterQueue": "a"}]
    message = broken(edit)
    assert "mammatus:queues[0].deadLetterQueue: dead-letter queues form a cycle: a -> b -> a" in message


def test_icmp_with_ports():
    def edit(s):
        s["firewall"].append({"name": "ping", "protocol": "icmp", "ports": [8]})
    assert "mammatus:firewall[1].ports: rule 'ping': icmp has no ports" in broken(edit)


def test_duplicate_rule_names():
    def edit(s):
        s["firewall"].append(dict(s["firewall"][0]))
    assert "rule name 'ssh-from-lan' is used twice" in broken(edit)


def test_rules_without_a_gateway():
    def edit(s):
        del s["gateway"], s["network"]
    assert "mammatus:firewall: rules need a gateway" in broken(edit)


def test_alerts_go_to_a_topic_that_exists():
    def edit(s):
        s.setdefault("topics", []).append({"name": "ops"})
        s["monitoring"] = {"alertTopic": "nope"}
    assert "mammatus:monitoring.alertTopic: topic 'nope' does not exist" in broken(edit)


def test_a_warning_comes_before_the_critical_limit():
    def edit(s):
        s["monitoring"] = {"thresholds": [{"name": "load", "measurement": "system",
                                           "field": "load1", "crit": 4, "warn": 8}]}
    assert "mammatus:monitoring.thresholds[0].warn: load: a warning must come before" in broken(edit)


def test_retention_is_an_influxql_duration():
    def edit(s):
        s["monitoring"] = {"retention": "30 days"}
    assert "mammatus:monitoring.retention" in broken(edit)


def test_alerts_on_an_arm64_monitoring_host_are_refused():
    def edit(s):
        s.setdefault("topics", []).append({"name": "ops"})
        s["monitoring"] = {"alertTopic": "ops"}
        monitoring_host = s["placement"]["monitoring"]
        for h in s["hosts"]:
            if h["name"] == monitoring_host:
                h["arch"] = "arm64"
    assert "mammatus:placement.monitoring: gw is arm64: its alerts run Kapacitor" in broken(edit)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["loadBalancer"]["routes"][0]["backends"].append({"instance": "web-9"}),
     "mammatus:loadBalancer.routes[0].backends[1].instance: instance 'web-9' does not exist"),
    (lambda s: s["loadBalancer"]["routes"][0]["backends"].append({"host": "nas"}),
     "mammatus:loadBalancer.routes[0].backends[1].host: host 'nas' does not exist"),
    (lambda s: s["loadBalancer"]["routes"][0]["backends"].append({"instance": "web-1", "host": "gw"}),
     "mammatus:loadBalancer.routes[0].backends[1]: a backend names exactly one of instance or host"),
    (lambda s: s["loadBalancer"]["routes"][0].update(name="web-1"),
     "mammatus:loadBalancer.routes[0].host: web-1.lab.mammatus is already the name of instance web-1"),
    (lambda s: s["loadBalancer"]["routes"][0].update(host="gw.lab.mammatus"),
     "mammatus:loadBalancer.routes[0].host: gw.lab.mammatus is already the name of host gw"),
    (lambda s: s["loadBalancer"]["routes"].append({"name": "consul", "backends": [{"host": "gw"}]}),
     "mammatus:loadBalancer: route name 'consul' is used twice (the cloud's own Consul UI"),
    (lambda s: s["loadBalancer"]["routes"].append(
        {"name": "www", "host": "web.lab.mammatus", "backends": [{"host": "gw"}]}),
     "mammatus:loadBalancer.routes[1].host: web.lab.mammatus is served by route 'web' too"),
    (lambda s: s["loadBalancer"].update(tcp=[{"name": "db", "port": 443, "backends": [{"instance": "web-1"}]}]),
     "mammatus:loadBalancer.tcp[0].port: port 443 is the load balancer's HTTPS routes"),
    (lambda s: s["loadBalancer"].update(tcp=[
        {"name": "a", "port": 5432, "backends": [{"instance": "web-1"}]},
        {"name": "b", "port": 5432, "backends": [{"instance": "web-1"}]}]),
     "mammatus:loadBalancer.tcp: port 5432 is used by two routes"),
    (lambda s: s["placement"].pop("loadBalancer"),
     "mammatus:loadBalancer: routes need the load balancer: set placement.loadBalancer"),
    (lambda s: s["loadBalancer"]["routes"][0].update(healthCheck={"interval": "5 seconds"}),
     "mammatus:loadBalancer.routes[0].healthCheck.interval: String should match pattern"),
])
def test_load_balancer_routes_are_checked(edit, message):
    assert message in broken(edit)


def test_a_tls_route_needs_the_ca():
    def edit(s):
        s["placement"].pop("ca")
        s["placement"].pop("vault")
    assert ("mammatus:loadBalancer.routes[0].tls: TLS certificates come from the cloud's CA by "
            "ACME: set placement.ca") in broken(edit)


def test_the_artifact_server_needs_the_network_and_its_name():
    def named(s):
        s["instances"].append({"name": "artifacts", "host": "node-2"})
    assert ("mammatus:placement.artifacts: the name artifacts is the artifact server's"
            in broken(named))


def test_instances_get_consul_and_telegraf_from_the_artifact_server_only_with_their_servers():
    from stacks.artifacts import instance_binaries

    spec = load_stack_file(ROOT / "Pulumi.lab.yaml")

    def without(**placed):
        return spec.model_copy(update={"placement": spec.placement.model_copy(update=placed)})

    assert instance_binaries(spec) == ["consul", "telegraf"]
    assert instance_binaries(without(monitoring=None)) == ["consul"]
    assert instance_binaries(without(consul=[])) == ["telegraf"]
    assert instance_binaries(without(consul=[], monitoring=None)) == []


def test_consul_services_need_consul_and_must_be_dns_labels():
    def registering(s):
        s["instances"][0]["consulServices"] = ["web"]
        s["placement"]["consul"] = []
    assert "mammatus:instances[0].consulServices: services register with the cloud's Consul" \
        in broken(registering)

    def bad_name(s):
        s["instances"][0]["consulServices"] = ["Web_1"]
    assert "consulServices" in broken(bad_name) and "DNS labels" in broken(bad_name)


@pytest.mark.parametrize("initiator, message", [
    ("iqn.2026-11.lab.mammatus:web-9",
     "mammatus:volumes[0].initiators[1]: instance 'web-9' does not exist (instances: web-1)"),
    ("iqn.2024-01.lab.mammatus:web-1",
     "mammatus:volumes[0].initiators[1]: iqn.2024-01.lab.mammatus:web-1 uses the cloud's domain, "
     "whose instances are iqn.2026-11.lab.mammatus:<instance>"),
    ("iqn.2026-11.lab.mammatus:web-1",
     "mammatus:volumes[0].initiators: iqn.2026-11.lab.mammatus:web-1 is listed twice"),
])
def test_an_initiator_under_the_clouds_domain_names_an_instance(initiator, message):
    def edit(s):
        s["volumes"][0]["initiators"].append(initiator)
    assert message in broken(edit)


def test_initiators_outside_the_cloud_and_volume_names():
    section = copy.deepcopy(lab_section())
    # Another naming authority (a machine outside the cloud), or another domain under it.
    section["volumes"][0]["initiators"] += ["iqn.1993-08.org.debian:01:4f2a", "iqn.2026-11.mammatus:web-9"]
    parse_spec(section)

    def twice(s):
        s["volumes"].append(dict(s["volumes"][0]))
    assert "mammatus:volumes: volume name 'web-data' is used twice" in broken(twice)
