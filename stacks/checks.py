"""Checks that need the whole cloud. Each problem names the config key it is about."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterator

from stacks.iscsi import IQN_DATE, cloud_domain, cloud_initiator
from stacks.spec import NAME, VAULT_CAPABILITIES, Arch, Role, StackSpec

Problem = tuple[str, str]  # (key path below `mammatus:`, message)


def _duplicates(values) -> set:
    return {v for v, n in Counter(values).items() if n > 1}


def check_hosts(spec: StackSpec) -> Iterator[Problem]:
    for name in _duplicates(h.name for h in spec.hosts):
        yield "hosts", f"host name {name!r} is used twice"
    for address in _duplicates(h.address for h in spec.hosts):
        yield "hosts", f"address {address} is given to two hosts"


def check_network(spec: StackSpec) -> Iterator[Problem]:
    net = spec.network
    if net is None:
        return
    subnet = net.lan_subnet
    usable = (subnet.network_address, subnet.broadcast_address)
    for key, address in (("network.dhcpRange.start", net.dhcp_range.start),
                         ("network.dhcpRange.end", net.dhcp_range.end)):
        if address not in subnet or address in usable:
            yield key, f"{address} is outside the usable addresses of lanSubnet {subnet}"
    if net.dhcp_range.start > net.dhcp_range.end:
        yield "network.dhcpRange", f"start {net.dhcp_range.start} is after end {net.dhcp_range.end}"
    for i, r in enumerate(net.reservations):
        if r.address not in subnet:
            yield f"network.reservations[{i}].address", f"{r.address} is outside lanSubnet {subnet}"
    for mac in _duplicates(r.mac for r in net.reservations):
        yield "network.reservations", f"MAC {mac} is reserved twice"
    for address in _duplicates(r.address for r in net.reservations):
        yield "network.reservations", f"address {address} is reserved twice"
    yield from check_pxe(net.pxe)
    if spec.gateway and spec.gateway.lan_address not in subnet:
        yield "gateway.lanAddress", f"{spec.gateway.lan_address} is outside lanSubnet {subnet}"
    for i, host in enumerate(spec.hosts):
        if Role.gateway not in host.roles and host.address not in subnet:
            yield f"hosts[{i}].address", f"{host.address} of {host.name} is outside lanSubnet {subnet}"


def check_pxe(pxe) -> Iterator[Problem]:
    if pxe.machines and not pxe.enabled:
        yield "network.pxe.machines", "need network.pxe.enabled"
    if pxe.machines and pxe.ipxe_script:
        yield "network.pxe.ipxeScript", ("replaces the script that boots network.pxe.machines: "
                                         "give one or the other")
    for mac in _duplicates(m.mac for m in pxe.machines):
        yield "network.pxe.machines", f"MAC {mac} is given to two machines"
    for name in _duplicates(m.name for m in pxe.machines):
        yield "network.pxe.machines", f"machine name {name!r} is used twice"


def _host_exists(spec: StackSpec, key: str, name: str | None, role: Role | None = None):
    if name is None:
        return
    names = {h.name: h for h in spec.hosts}
    if name not in names:
        yield key, f"host {name!r} does not exist (hosts: {', '.join(sorted(names)) or 'none'})"
    elif role is not None and role not in names[name].roles:
        yield key, f"host {name!r} does not have the {role.value} role"


def check_placement(spec: StackSpec) -> Iterator[Problem]:
    if spec.gateway:
        yield from _host_exists(spec, "gateway.host", spec.gateway.host, Role.gateway)
    elif spec.network:
        yield "gateway", "is required when network is set"
    p = spec.placement
    for field, value in p:
        key = f"placement.{field}"
        for i, name in enumerate(value if isinstance(value, list) else [value]):
            yield from _host_exists(spec, key if not isinstance(value, list) else f"{key}[{i}]", name)
    for i, inst in enumerate(spec.instances):
        yield from _host_exists(spec, f"instances[{i}].host", inst.host, Role.compute)
    for i, vol in enumerate(spec.volumes):
        yield from _host_exists(spec, f"volumes[{i}].host", vol.host, Role.storage)
    if p.artifacts and spec.network is None:
        yield "placement.artifacts", ("instances find the artifact server as artifacts.<domain> "
                                      "in the cloud's DNS: it needs mammatus:network")
    if p.artifacts and "artifacts" in {*(h.name for h in spec.hosts),
                                       *(i.name for i in spec.instances)}:
        yield "placement.artifacts", "the name artifacts is the artifact server's: rename that host or instance"
    if p.metadata and (spec.network is None or spec.dns_host is None):
        # Identity is source IP -> DHCP lease -> MAC: without the cloud's DHCP server nothing
        # proves who asks, and every instance would be refused.
        yield "placement.metadata", ("the metadata service proves who asks by the cloud's DHCP "
                                     "leases: it needs mammatus:network and a gateway "
                                     "(or placement.dns)")
    for i, inst in enumerate(spec.instances):
        if inst.consul_services and not p.consul:
            yield (f"instances[{i}].consulServices", "services register with the cloud's Consul: "
                   "set mammatus:placement.consul")
    for name in _duplicates(i.name for i in spec.instances):
        yield "instances", f"instance name {name!r} is used twice"
    for mac in _duplicates(spec.instance_mac(i) for i in spec.instances):
        yield "instances", f"MAC {mac} is given to two instances"


def check_messaging(spec: StackSpec) -> Iterator[Problem]:
    topics = {t.name for t in spec.topics}
    queues = {q.name for q in spec.queues}
    dlq_of = {q.name: q.dead_letter_queue for q in spec.queues if q.dead_letter_queue}
    for i, q in enumerate(spec.queues):
        if q.dead_letter_queue and q.dead_letter_queue not in queues:
            yield f"queues[{i}].deadLetterQueue", f"queue {q.dead_letter_queue!r} does not exist"
        seen, at = [q.name], dlq_of.get(q.name)
        while at in queues and at not in seen:
            seen.append(at)
            at = dlq_of.get(at)
        if at == q.name:
            yield (f"queues[{i}].deadLetterQueue",
                   f"dead-letter queues form a cycle: {' -> '.join([*seen, q.name])}")
        for topic in q.subscribe_to:
            if topic not in topics:
                yield f"queues[{i}].subscribeTo", f"topic {topic!r} does not exist"
    for i, fn in enumerate(spec.functions):
        for j, t in enumerate(fn.triggers):
            key = f"functions[{i}].triggers[{j}]"
            if t.kind == "cron" and not t.schedule:
                yield key, "a cron trigger needs schedule"
            if t.kind == "sns" and t.topic not in topics:
                yield key, f"topic {t.topic!r} does not exist"
            if t.kind == "sqs" and t.queue not in queues:
                yield key, f"queue {t.queue!r} does not exist"


def check_monitoring(spec: StackSpec) -> Iterator[Problem]:
    mon = spec.monitoring
    if mon.alert_topic is not None:
        if mon.alert_topic not in {t.name for t in spec.topics}:
            yield "monitoring.alertTopic", f"topic {mon.alert_topic!r} does not exist"
        if not spec.placement.monitoring:
            yield "monitoring.alertTopic", "alerts need the monitoring layer: set placement.monitoring"
    if mon.alert_topic is not None and spec.placement.monitoring in {h.name for h in spec.hosts}:
        host = spec.host(spec.placement.monitoring)
        if host.arch is not Arch.amd64:
            yield ("placement.monitoring", f"{host.name} is {host.arch.value}: its alerts run "
                   "Kapacitor, which Mammatus builds for amd64 only (Flux's Rust library by cgo)")
    for name in _duplicates(t.name for t in mon.thresholds):
        yield "monitoring.thresholds", f"threshold name {name!r} is used twice"
    for i, t in enumerate(mon.thresholds):
        if t.warn is not None and (t.warn < t.crit if t.below else t.warn > t.crit):
            yield (f"monitoring.thresholds[{i}].warn",
                   f"{t.name}: a warning must come before the critical limit {t.crit:g}")


# What a placed service cannot run without: (placement key, what it needs, why). The cloud
# builds a layer exactly when its placement is set, so a missing prerequisite is an error here,
# never a layer that silently is not there.
PLACEMENT_NEEDS = (
    ("vault", "ca", "Vault's listener and its agents' certificates come from the cloud's CA"),
    ("consul", "ca", "Consul's HTTPS API and its servers' RPC certificates come from the cloud's CA"),
    ("sns", "nats", "SNS keeps its topics and subscriptions in NATS JetStream"),
    ("sqs", "nats", "SQS keeps its queues and messages in NATS JetStream"),
)

# Spec sections that mean nothing without a placed service: (section, placement key, service).
SECTION_NEEDS = (
    ("topics", "sns", "the SNS service"),
    ("queues", "sqs", "the SQS service"),
    ("functions", "functions", "faasd"),
    ("instances", "metadata", "the metadata service (their cloud-init reads only it)"),
)


def check_prerequisites(spec: StackSpec) -> Iterator[Problem]:
    p = spec.placement
    for service, needed, why in PLACEMENT_NEEDS:
        if getattr(p, service) and not getattr(p, needed):
            yield f"placement.{service}", f"needs placement.{needed}: {why}"
    for section, service, what in SECTION_NEEDS:
        if getattr(spec, section) and not getattr(p, service):
            yield section, f"need {what}: set placement.{_camel(service)}"


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def check_firewall(spec: StackSpec) -> Iterator[Problem]:
    if spec.firewall and spec.gateway is None:
        yield "firewall", "rules need a gateway (mammatus:gateway)"
    for name in _duplicates(r.name for r in spec.firewall):
        yield "firewall", f"rule name {name!r} is used twice"
    for i, rule in enumerate(spec.firewall):
        if rule.protocol == "icmp" and rule.ports:
            yield f"firewall[{i}].ports", f"rule {rule.name!r}: icmp has no ports"


# traefik's own listeners on the load balancer's address: web, websecure, and its ping/API.
LB_RESERVED_PORTS = {80: "HTTP routes", 443: "HTTPS routes", 8082: "traefik's own ping"}


def check_load_balancer(spec: StackSpec) -> Iterator[Problem]:
    lb = spec.load_balancer
    routes = [("routes", i, r) for i, r in enumerate(lb.routes)] + \
             [("tcp", i, r) for i, r in enumerate(lb.tcp)]
    if routes and not spec.placement.load_balancer:
        yield "loadBalancer", "routes need the load balancer: set placement.loadBalancer"
    for name in _duplicates([r.name for *_, r in routes] + (["consul"] if spec.placement.consul else [])):
        yield "loadBalancer", (f"route name {name!r} is used twice" + (
            " (the cloud's own Consul UI route is called consul)" if name == "consul" else ""))
    domain = spec.network.domain if spec.network else None
    instances, hosts = {i.name for i in spec.instances}, {h.name for h in spec.hosts}
    # Names the cloud's DNS already gives: a route's record would take an instance's or host's
    # name away (dnsmasq refuses a DHCP name that a hosts file holds).
    taken = {f"{n}.{domain}": f"instance {n}" for n in instances} | \
            {f"{n}.{domain}": f"host {n}" for n in hosts} | {f"ca.{domain}": "the CA"}
    if spec.network:
        taken |= {r.name if "." in r.name else f"{r.name}.{domain}": f"record {r.name}"
                  for r in spec.network.records}
    served: dict = {}
    for section, i, route in routes:
        key = f"loadBalancer.{section}[{i}]"
        for j, backend in enumerate(route.backends):
            bkey = f"{key}.backends[{j}]"
            if backend.instance is not None and backend.instance not in instances:
                yield f"{bkey}.instance", f"instance {backend.instance!r} does not exist"
            if backend.instance is not None and spec.network is None:
                yield f"{bkey}.instance", "instances are reached by name: needs mammatus:network"
            if backend.host is not None and backend.host not in hosts:
                yield f"{bkey}.host", f"host {backend.host!r} does not exist"
        if section == "tcp":
            if route.port in LB_RESERVED_PORTS:
                yield f"{key}.port", f"port {route.port} is the load balancer's {LB_RESERVED_PORTS[route.port]}"
            continue
        if route.tls and not spec.placement.ca:
            yield f"{key}.tls", "TLS certificates come from the cloud's CA by ACME: set placement.ca"
        if route.host is None and domain is None:
            yield f"{key}.host", "needs a host name, or mammatus:network for <name>.<domain>"
            continue
        host = route.host or f"{route.name}.{domain}"
        if host in taken:
            yield f"{key}.host", f"{host} is already the name of {taken[host]}"
        if (host, route.path) in served:
            yield f"{key}.host", f"{host}{route.path or ''} is served by route {served[host, route.path]!r} too"
        served[host, route.path] = route.name
    for port in _duplicates(r.port for r in lb.tcp):
        yield "loadBalancer.tcp", f"port {port} is used by two routes"


# What instances boot: the image Mammatus builds (dynamic_providers/rootfs_image.py), whose
# cloud-init takes its data from the cloud's metadata service only. An image server's images
# use LXD's own datasource and would never see the metadata service, the admin key or
# vendor-data.
BUILT_IMAGES = ("debian-bookworm",)


def check_images(spec: StackSpec) -> Iterator[Problem]:
    for i, inst in enumerate(spec.instances):
        if inst.image not in BUILT_IMAGES:
            yield (f"instances[{i}].image", f"Mammatus builds only {', '.join(BUILT_IMAGES)} (its "
                   f"cloud-init takes its data from the metadata service), got {inst.image!r}")
    for i, host in enumerate(spec.hosts):
        if Role.compute in host.roles and host.arch is not Arch.amd64 and any(
                inst.host == host.name for inst in spec.instances):
            yield (f"hosts[{i}].arch", f"{host.name} runs instances, whose image is built for "
                   "amd64 only (debootstrap on the machine running Pulumi)")


def check_dev_box(spec: StackSpec) -> Iterator[Problem]:
    if spec.dev_box is None:
        return
    machine = spec.dev_box.machine_lan_address.ip
    for i, host in enumerate(spec.hosts):
        if host.address == machine:
            yield f"hosts[{i}].address", f"{machine} is devBox.machineLanAddress (this machine)"


VAULT_NAME = r"^[a-z0-9]([a-z0-9_.-]{0,126}[a-z0-9])?$"
# Vault's own policies: `root` cannot be written, `default` cannot be deleted (so a policy the
# spec made could not be removed again).
VAULT_BUILTIN_POLICIES = ("root", "default")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(duration: str) -> int:
    """A duration the spec's pattern allows (VAULT_DURATION) in seconds."""
    if duration[-1] in _UNITS:
        return int(duration[:-1]) * _UNITS[duration[-1]]
    return int(duration)


def check_vault(spec: StackSpec) -> Iterator[Problem]:
    vault = spec.vault
    if (vault.policies or vault.roles) and not spec.placement.vault:
        yield "vault", "policies and roles are applied to the cloud's Vault: set placement.vault"
    for name, policy in vault.policies.items():
        key = f"vault.policies.{name}"
        if not re.match(VAULT_NAME, name):
            yield key, "a policy name is lowercase letters, digits, '-', '_' and '.'"
        if name in VAULT_BUILTIN_POLICIES:
            yield key, f"{name} is Vault's built-in policy: give yours another name"
        if isinstance(policy, str):
            if not policy.strip():
                yield key, "is empty: give HCL text or path rules ({path: [capability, ...]})"
            continue
        if not policy:
            yield key, "has no path rules"
        for path, caps in policy.items():
            bad = [c for c in caps if c not in VAULT_CAPABILITIES]
            if not caps or bad:
                yield (f"{key}.{path}", f"capabilities are some of {', '.join(VAULT_CAPABILITIES)}"
                       + (f", got {bad}" if bad else ", got none"))
    known = set(vault.policies) | {"default"}
    for name, role in vault.roles.items():
        key = f"vault.roles.{name}"
        if not re.match(NAME, name):
            yield key, "a role name is a DNS label (lowercase letters, digits and '-')"
        for policy in role.policies:
            if policy not in known:
                yield f"{key}.policies", (f"policy {policy!r} does not exist (vault.policies: "
                                          f"{', '.join(sorted(vault.policies)) or 'none'})")
        if "0" not in (role.token_ttl, role.token_max_ttl) and \
                _seconds(role.token_ttl) > _seconds(role.token_max_ttl):
            yield f"{key}.tokenTtl", f"{role.token_ttl} is longer than tokenMaxTtl {role.token_max_ttl}"
    for i, inst in enumerate(spec.instances):
        if inst.vault_role is not None and inst.vault_role not in vault.roles:
            yield (f"instances[{i}].vaultRole", f"role {inst.vault_role!r} does not exist "
                   f"(vault.roles: {', '.join(sorted(vault.roles)) or 'none'})")


def check_volumes(spec: StackSpec) -> Iterator[Problem]:
    """Volume names are their backstores' and targets' names; an initiator under the cloud's
    naming authority is an instance's own IQN (stacks/iscsi.py), so it must name one."""
    for name in _duplicates(v.name for v in spec.volumes):
        yield "volumes", f"volume name {name!r} is used twice"
    domain = cloud_domain(spec)
    instances = sorted(i.name for i in spec.instances)
    for i, vol in enumerate(spec.volumes):
        for iqn in _duplicates(vol.initiators):
            yield f"volumes[{i}].initiators", f"{iqn} is listed twice"
        for j, iqn in enumerate(vol.initiators):
            ours = cloud_initiator(iqn, domain)
            if ours is None:
                continue   # a machine outside the cloud
            date, name = ours
            key = f"volumes[{i}].initiators[{j}]"
            if date != IQN_DATE:
                yield key, (f"{iqn} uses the cloud's domain, whose instances are "
                            f"iqn.{IQN_DATE}.{domain}:<instance>")
            elif name not in instances:
                yield key, (f"instance {name!r} does not exist "
                            f"(instances: {', '.join(instances) or 'none'})")


CHECKS = (check_hosts, check_network, check_placement, check_prerequisites, check_messaging,
          check_monitoring, check_load_balancer, check_firewall, check_dev_box, check_images,
          check_vault, check_volumes)


def problems(spec: StackSpec) -> list[Problem]:
    return [problem for check in CHECKS for problem in check(spec)]
