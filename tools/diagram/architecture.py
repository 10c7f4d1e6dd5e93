"""Draws a stack's architecture from its spec: Graphviz DOT text (pure), rendered by `dot`.

    .venv/bin/python -m tools.diagram.architecture home docs/home.svg

The picture shows what the spec places where: the WAN, the gateway's two ports and the LAN,
each host with its roles and the services it runs, and the instances on each compute node.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stacks.load import load_stack_file
from stacks.spec import Role, StackSpec

ROOT = Path(__file__).resolve().parents[2]

EVERY_HOST = ("sshd", "serf", "telegraf")
ROLE_SERVICES = {
    Role.gateway: ("iptables NAT + firewall", "ntopng"),
    Role.compute: ("lxd",),
    Role.storage: ("LIO iSCSI",),
}
PLACED = {
    "dns": "dnsmasq DHCP/DNS/TFTP", "ca": "step-ca (ACME)", "monitoring": "InfluxDB, Kapacitor",
    "nats": "NATS JetStream", "metadata": "metadata 169.254.169.254", "sns": "SNS", "sqs": "SQS",
    "object_storage": "MinIO", "load_balancer": "traefik", "functions": "faasd", "vault": "Vault",
}


def services_on(spec: StackSpec, host: str) -> list[str]:
    h = spec.host(host)
    found = list(EVERY_HOST)
    for role in h.roles:
        found += ROLE_SERVICES.get(role, ())
    placement = spec.placement
    dns_host = placement.dns or (spec.gateway.host if spec.gateway else None)
    for field, label in PLACED.items():
        target = dns_host if field == "dns" else getattr(placement, field)
        if target == host:
            found.append(label)
    if host in placement.consul:
        found.append("Consul server")
    return found


def _q(text: str) -> str:
    return '"' + text.replace('"', r'\"') + '"'


def to_dot(name: str, spec: StackSpec) -> str:
    lines = [f"digraph {_q('mammatus-' + name)} {{",
             '  graph [rankdir=TB, fontname="Helvetica", label=' + _q(f"Mammatus — {name} stack") + ", labelloc=t];",
             '  node [shape=box, style="rounded,filled", fillcolor="#f4f7fb", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];',
             '  wan [label="WAN / upstream DNS", shape=ellipse, fillcolor="#ffe9d6"];']
    subnet = spec.network.lan_subnet if spec.network else "LAN"
    domain = spec.network.domain if spec.network else ""
    lines.append(f'  lan [label={_q(f"LAN {subnet}  .{domain}")}, shape=ellipse, fillcolor="#e3f4e1"];')
    for h in spec.hosts:
        roles = ", ".join(r.value for r in h.roles)
        body = "\\n".join(services_on(spec, h.name))
        label = f"{h.name} ({h.address}, {h.arch.value})\\n[{roles}]\\n\\n{body}"
        lines.append(f"  {_q(h.name)} [label={_q(label)}];")
        if spec.gateway and h.name == spec.gateway.host:
            lines.append(f"  wan -> {_q(h.name)} [label={_q(spec.gateway.wan_interface)}, dir=both];")
            lines.append(f"  {_q(h.name)} -> lan [label={_q(spec.gateway.lan_interface)}, dir=both];")
        else:
            lines.append(f"  lan -> {_q(h.name)} [dir=both];")
    for inst in spec.instances:
        node = f"instance:{inst.name}"
        lines.append(f'  {_q(node)} [label={_q(inst.name + " (LXD, macvlan)")}, fillcolor="#eef0ff"];')
        lines.append(f"  {_q(inst.host)} -> {_q(node)} [style=dashed];")
    for vol in spec.volumes:
        node = f"volume:{vol.name}"
        lines.append(f'  {_q(node)} [label={_q(f"{vol.name} {vol.size_gb} GB iSCSI")}, shape=cylinder, fillcolor="#fff7d6"];')
        lines.append(f"  {_q(vol.host)} -> {_q(node)} [style=dotted];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def load(stack: str) -> StackSpec:
    return load_stack_file(ROOT / f"Pulumi.{stack}.yaml")


def main(argv: list[str]) -> int:
    stack, out = argv[0], Path(argv[1])
    dot = to_dot(stack, load(stack))
    fmt = out.suffix.lstrip(".") or "svg"
    out.write_bytes(subprocess.run(["dot", f"-T{fmt}"], input=dot.encode(), check=True,
                                   capture_output=True).stdout)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
