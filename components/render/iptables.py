"""The gateway's packet filter and NAT as ONE iptables-restore file (applied atomically).

Policy (seed design: iptables between the gateway's two ports):
- nat: LAN subnet MASQUERADEd out of the WAN interface; a `forward` rule from the WAN to one LAN
  host (destination /32) with ports is a port forward, so it also gets a DNAT in PREROUTING.
- filter INPUT: loopback and ESTABLISHED,RELATED accepted, then the typed rules in order, then the
  LAN (trusted) accepted; everything else, i.e. all of the WAN, falls to the DROP policy.
- filter FORWARD: ESTABLISHED,RELATED accepted, then the typed rules in order, then LAN -> WAN
  from the LAN subnet accepted; everything else (WAN -> LAN in particular) falls to DROP.
- OUTPUT: ACCEPT.

IPv6 (`render_v6`, for ip6tables-restore): the cloud routes no IPv6, but a WAN with IPv6 (most
ISPs give one by SLAAC) would otherwise reach every listener on the gateway (sshd, dnsmasq…):
INPUT and FORWARD DROP too. Accepted: loopback, ESTABLISHED,RELATED, the ICMPv6 that IPv6 cannot
work without (neighbour discovery, errors, echo), DHCPv6 replies to the gateway's own client, the
LAN, and the typed `input` rules that name no address (they mean both families).

Deleting the firewall restores what the gateway had before Mammatus' first rules (saved then, as
`before.v4`/`before.v6`): the distro's default, never an open router. Without a saved copy it
restores ACCEPT for the gateway's own traffic and DROP for forwarding (`CLOSED`).
Pure functions; validated by the real `iptables-restore --test` / `ip6tables-restore --test`.
"""

from __future__ import annotations

import ipaddress

from stacks.spec import FirewallRule, StackSpec

ACTIONS = {"accept": "ACCEPT", "drop": "DROP", "reject": "REJECT"}


def nat_rules(spec: StackSpec) -> list[str]:
    """The gateway's NAT: MASQUERADE for the LAN subnet out of the WAN port, plus port forwards."""
    gw, net = _require(spec)
    rules = []
    for rule in spec.firewall:
        target = port_forward_target(rule, net.lan_subnet)
        if target is not None:
            rules.append(f"-A PREROUTING -i {gw.wan_interface} -p {rule.protocol}"
                         f"{_ports(rule)} -m comment --comment \"mammatus:{rule.name}\" "
                         f"-j DNAT --to-destination {target}")
    rules.append(masquerade_rule(spec))
    return rules


def masquerade_rule(spec: StackSpec) -> str:
    """The gateway's NAT: the LAN subnet leaves through the WAN port with the WAN's address."""
    gw, net = _require(spec)
    return (f"-A POSTROUTING -s {net.lan_subnet} -o {gw.wan_interface} "
            f"-m comment --comment \"mammatus:nat\" -j MASQUERADE")


def port_forward_target(rule: FirewallRule, lan: ipaddress.IPv4Network) -> str | None:
    """The LAN address a WAN `forward` rule forwards to, if it is a port forward."""
    if (rule.chain == "forward" and rule.from_zone == "wan" and rule.action == "accept"
            and rule.ports and rule.protocol in ("tcp", "udp") and rule.destination is not None
            and rule.destination.prefixlen == 32 and rule.destination.network_address in lan):
        return str(rule.destination.network_address)
    return None


def rule_line(rule: FirewallRule, spec: StackSpec) -> str:
    """One typed rule as an iptables-restore line."""
    gw, _ = _require(spec)
    if rule.protocol == "icmp" and rule.ports:
        raise ValueError(f"firewall rule {rule.name!r}: icmp has no ports")
    parts = [f"-A {rule.chain.upper()}"]
    if rule.from_zone == "wan":
        parts.append(f"-i {gw.wan_interface}")
    elif rule.from_zone == "lan":
        parts.append(f"-i {gw.lan_interface}")
    if rule.source is not None:
        parts.append(f"-s {rule.source}")
    if rule.destination is not None:
        parts.append(f"-d {rule.destination}")
    parts.append(f"-p {rule.protocol}{_ports(rule)}")
    parts.append(f"-m comment --comment \"mammatus:{rule.name}\"")
    parts.append(f"-j {ACTIONS[rule.action]}")
    return " ".join(parts)


def filter_rules(spec: StackSpec) -> tuple[list[str], list[str]]:
    """(INPUT rules, FORWARD rules) in the order they are evaluated."""
    gw, net = _require(spec)
    est = "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
    inputs = ["-A INPUT -i lo -j ACCEPT", f"-A INPUT {est}"]
    forwards = [f"-A FORWARD {est}"]
    for rule in spec.firewall:
        (inputs if rule.chain == "input" else forwards).append(rule_line(rule, spec))
    inputs.append(f"-A INPUT -i {gw.lan_interface} -m comment --comment \"mammatus:lan\" -j ACCEPT")
    forwards.append(f"-A FORWARD -i {gw.lan_interface} -o {gw.wan_interface} -s {net.lan_subnet} "
                    f"-m comment --comment \"mammatus:lan-to-wan\" -j ACCEPT")
    return inputs, forwards


def render(spec: StackSpec) -> str:
    """The whole iptables-restore file: nat then filter, each table committed atomically."""
    inputs, forwards = filter_rules(spec)
    lines = [
        "# Mammatus gateway firewall and NAT (generated; applied with iptables-restore)",
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        *nat_rules(spec),
        "COMMIT",
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        *inputs,
        *forwards,
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


# ICMPv6 types IPv6 needs: errors (1-4), echo (128, 129), router and neighbour discovery (133-137).
ICMPV6_NEEDED = (1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137)


def v6_input_rule(rule: FirewallRule, spec: StackSpec) -> str | None:
    """A typed `input` rule for IPv6 too, when it names no address (those are IPv4's)."""
    if rule.chain != "input" or rule.source is not None or rule.destination is not None:
        return None
    line = rule_line(rule, spec)
    return line.replace(" -p icmp", " -p ipv6-icmp") if rule.protocol == "icmp" else line


def render_v6(spec: StackSpec) -> str:
    """The gateway's ip6tables-restore file: default-deny, IPv6's essentials, the LAN."""
    gw, _ = _require(spec)
    inputs = ["-A INPUT -i lo -j ACCEPT",
              "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
              *(f"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT" for t in ICMPV6_NEEDED),
              "-A INPUT -s fe80::/10 -p udp --sport 547 --dport 546 "
              "-m comment --comment \"mammatus:dhcpv6-client\" -j ACCEPT"]
    inputs += [line for rule in spec.firewall if (line := v6_input_rule(rule, spec))]
    inputs.append(f"-A INPUT -i {gw.lan_interface} -m comment --comment \"mammatus:lan\" -j ACCEPT")
    lines = [
        "# Mammatus gateway IPv6 filter (generated; applied with ip6tables-restore)",
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        *inputs,
        "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        *(f"-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT" for t in (1, 2, 3, 4)),
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


CLOSED = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
"""What deleting the firewall restores when nothing was saved before it: the host's own traffic
as a fresh Debian has it, and no forwarding (a router without its firewall routes nothing)."""

SAVED_DIR = "/var/lib/mammatus/firewall"


def save_before_command(save: str, path: str) -> str:
    """Keeps the rules the host had before Mammatus' first ones (once; 0600, it is the host's)."""
    return f"[ -e {path} ] || (umask 077 && {save} > {path}.new && mv {path}.new {path})"


EMPTY_NAT = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n")


def restore_before_command(restore: str, path: str) -> str:
    """Back to the saved rules, or to CLOSED; then the saved copy goes (the next create saves).
    The NAT table is emptied first: a host without NAT before has none in its saved copy."""
    return (f"{restore} <<'MAMMATUS_EMPTY_NAT'\n{EMPTY_NAT}MAMMATUS_EMPTY_NAT\n"
            f"if [ -s {path} ]; then {restore} < {path}; else {restore} <<'MAMMATUS_CLOSED'\n"
            f"{CLOSED}MAMMATUS_CLOSED\nfi && rm -f {path}")


RULES_PATH = "/etc/iptables/rules.v4"
RULES_V6_PATH = "/etc/iptables/rules.v6"
BOOT_UNIT = "mammatus-iptables.service"


def boot_unit(rules_path: str = RULES_PATH, rules_v6_path: str = RULES_V6_PATH) -> str:
    """A oneshot systemd unit that restores both files at boot, before the network comes up."""
    return ("[Unit]\nDescription=Mammatus firewall and NAT (iptables-restore)\n"
            "DefaultDependencies=no\nBefore=network-pre.target\nWants=network-pre.target\n\n"
            f"[Service]\nType=oneshot\nExecStart=/usr/sbin/iptables-restore {rules_path}\n"
            f"ExecStart=/usr/sbin/ip6tables-restore {rules_v6_path}\n"
            "RemainAfterExit=yes\n\n[Install]\nWantedBy=multi-user.target\n")


def _ports(rule: FirewallRule) -> str:
    if not rule.ports:
        return ""
    if len(rule.ports) == 1:
        return f" --dport {rule.ports[0]}"
    return " -m multiport --dports " + ",".join(str(p) for p in rule.ports)


def _require(spec: StackSpec):
    if spec.gateway is None or spec.network is None:
        raise ValueError("the firewall needs mammatus:gateway and mammatus:network")
    return spec.gateway, spec.network
