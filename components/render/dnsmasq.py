"""dnsmasq.conf for the LAN: DHCP, DNS and read-only TFTP with PXE/iPXE boot (seed design).

The main file holds what the stack spec says about the network; reservations and DNS records
added as resources (dynamic_providers/dnsmasq.py) are small files in `dhcp_hosts_dir`
(dhcp-hostsfile format) and `hosts_dir` (hosts format), which dnsmasq re-reads on SIGHUP.
Pure functions; validated by the real `dnsmasq --test -C` in tests.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from typing import Optional

from components.render import ipxe, metadata_config
from components.naming import fqdn
from components.render.paths import HostPaths
from stacks.spec import Network, StackSpec

# DHCP option 93 (client architecture) values, RFC 4578 / IANA.
ARCH_BIOS = 0
ARCH_EFI_X86_64 = (7, 9)
ARCH_EFI_ARM64 = 11


@dataclass(frozen=True)
class DnsmasqPaths(HostPaths):
    """Where dnsmasq's files live on its host."""
    config: str = "/etc/mammatus/dnsmasq/dnsmasq.conf"
    conf_dir: str = "/etc/mammatus/dnsmasq/conf.d"
    dhcp_hosts_dir: str = "/etc/mammatus/dnsmasq/dhcp-hosts"
    hosts_dir: str = "/etc/mammatus/dnsmasq/hosts"
    lease_file: str = "/var/lib/mammatus/dnsmasq/dnsmasq.leases"
    pid_file: str = "/run/mammatus/dnsmasq.pid"
    # The lease script (services/metadata/lease_hook.py) and what it reads, used when the
    # metadata service is on another host (StackSpec.pushes_leases).
    lease_hook: str = "/etc/mammatus/dnsmasq/lease-hook"
    lease_hook_config: str = "/etc/mammatus/dnsmasq/lease-push.yaml"
    lease_hook_key: str = "/etc/mammatus/dnsmasq/lease-push.key"
    # None: the spec's network.pxe.tftpRoot as is.
    tftp_root: Optional[str] = None


@dataclass(frozen=True)
class Listen:
    """How dnsmasq is bound: an interface (on the gateway) or an address (elsewhere)."""
    interface: Optional[str]
    address: ipaddress.IPv4Address


def listen_of(spec: StackSpec) -> Listen:
    """dnsmasq runs on the host placed as `dns`, by default the gateway (on its LAN port)."""
    gw = spec.gateway
    name = spec.dns_host
    if name is None:
        raise ValueError("dnsmasq needs mammatus:placement.dns or a mammatus:gateway")
    if gw is not None and name == gw.host:
        return Listen(gw.lan_interface, gw.lan_address)
    return Listen(None, spec.host(name).address)


def host_records(spec: StackSpec) -> list[tuple[str, ipaddress.IPv4Address]]:
    """Names every cloud answers: each host as <name>.<domain>, gateway.<domain>, and the
    services' own names (ca.<domain>). Being static, none of them can be taken by a DHCP client
    that calls itself so (dnsmasq gives a lease no name that a host-record holds), which would
    otherwise let it pass an ACME challenge for the name."""
    net = spec.network
    records = [(fqdn(h.name, net.domain), h.address) for h in spec.hosts]
    if spec.placement.ca:
        records.append((fqdn("ca", net.domain), spec.host(spec.placement.ca).address))
    if spec.gateway is not None:
        gateway_name = fqdn("gateway", net.domain)
        records = [(n, a) for n, a in records if n != gateway_name]
        records.append((gateway_name, spec.gateway.lan_address))
    return records


def pxe_lines(net: Network, boot_server: ipaddress.IPv4Address, tftp_root: str) -> list[str]:
    """Each firmware its own boot file over TFTP, told apart by DHCP option 93 (client-arch):
    BIOS and x86-64 UEFI load iPXE, ARM64 UEFI an ARM64 loader (Pxe.efi_arm64_boot_file).
    iPXE itself (user class "iPXE", whichever way it started) gets the script, Mammatus'
    own from the TFTP root (components/render/ipxe.py) unless pxe.ipxeScript names another.
    The tags exclude each other, so no two dhcp-boot lines can match one client."""
    pxe = net.pxe
    if not pxe.enabled:
        return []
    script = pxe.ipxe_script or f"{ipxe.SCRIPT},,{boot_server}"
    return [
        "# PXE: firmware gets a loader over TFTP by its architecture (option 93); iPXE (user class",
        "# iPXE) then gets the script.",
        f"dhcp-match=set:bios,option:client-arch,{ARCH_BIOS}",
        *(f"dhcp-match=set:efi64,option:client-arch,{a}" for a in ARCH_EFI_X86_64),
        f"dhcp-match=set:efiarm64,option:client-arch,{ARCH_EFI_ARM64}",
        "dhcp-userclass=set:ipxe,iPXE",
        f"dhcp-boot=tag:!ipxe,tag:bios,{pxe.bios_boot_file},,{boot_server}",
        f"dhcp-boot=tag:!ipxe,tag:efi64,{pxe.efi_boot_file},,{boot_server}",
        # ARM64 UEFI: Debian ships no iPXE for it; its loader comes with the arm64 installer,
        # there only when the cloud installs machines (Pxe.installs).
        *([f"dhcp-boot=tag:!ipxe,tag:efiarm64,{pxe.efi_arm64_boot_file},,{boot_server}"]
          if pxe.installs else []),
        f"dhcp-boot=tag:ipxe,{script}",
        "# TFTP: read-only (dnsmasq never accepts writes); only files under tftp-root.",
        "enable-tftp",
        f"tftp-root={tftp_root}",
        "tftp-secure",
        "tftp-no-fail",
    ]


def render(spec: StackSpec, paths: DnsmasqPaths = DnsmasqPaths(), *, inline_resources: bool = True
           ) -> str:
    """The main dnsmasq.conf. With inline_resources=False, the spec's reservations and records
    are left to the dnsmasq provider's files (one resource each) instead of dhcp-host/host-record
    lines here."""
    net = spec.network
    if net is None:
        raise ValueError("dnsmasq needs mammatus:network")
    listen = listen_of(spec)
    router = spec.gateway.lan_address if spec.gateway else listen.address
    netmask = net.lan_subnet.netmask
    rng = net.dhcp_range
    lines = [
        f"# Mammatus: DHCP, DNS and TFTP for {net.domain} (generated; do not edit)",
        "# Listen on the LAN only.",
    ]
    if listen.interface:
        lines.append(f"interface={listen.interface}")
    else:
        lines.append(f"listen-address={listen.address}")
    lines += [
        "bind-interfaces",
        "# DNS: the local domain is answered here and never forwarded; the rest goes upstream.",
        f"domain={net.domain},{net.lan_subnet}",
        f"local=/{net.domain}/",
        "expand-hosts",
        "domain-needed",
        "bogus-priv",
        "no-resolv",
        "no-hosts",
        *(f"server={server}" for server in net.upstream_dns),
        *consul_forwarding(spec),
        *(f"host-record={name},{address}" for name, address in host_records(spec)),
    ]
    if inline_resources:
        lines += [f"host-record={fqdn(r.name, net.domain)},{r.address}" for r in net.records]
    lines += [
        "# DHCP",
        "dhcp-authoritative",
        f"dhcp-range=set:lan,{rng.start},{rng.end},{netmask},{rng.lease_time}",
        f"dhcp-option=tag:lan,option:router,{router}",
        *metadata_route(spec, router),
        f"dhcp-option=tag:lan,option:dns-server,{listen.address}",
        f"dhcp-option=tag:lan,option:domain-search,{net.domain}",
        f"dhcp-leasefile={paths.lease_file}",
    ]
    lines += ["# Every lease (and renewal) pins its address to its MAC on this host, and goes to",
              "# the metadata service when that is on another host (lease_hook_script).",
              f"dhcp-script={paths.lease_hook}", "script-on-renewal"]
    if inline_resources:
        lines += [f"dhcp-host={r.mac},{r.address},{r.hostname}" for r in net.reservations]
    lines += pxe_lines(net, listen.address, paths.tftp_root or net.pxe.tftp_root)
    lines += [
        "# Reservations and records managed one by one (re-read on SIGHUP).",
        f"dhcp-hostsfile={paths.dhcp_hosts_dir}",
        f"addn-hosts={paths.hosts_dir}",
        f"conf-dir={paths.conf_dir},*.conf",
        f"pid-file={paths.pid_file}",
        "user=root",
        "log-facility=-",
    ]
    return "\n".join(lines) + "\n"


# Consul's DNS port on its servers (components/render/consul.py DNS_PORT; peers never import).
CONSUL_DNS_PORT = 8600


def consul_forwarding(spec: StackSpec) -> list[str]:
    """Names under `consul.` go to the Consul servers' DNS (each server, dnsmasq picks the one
    that answers), so `web.service.consul` resolves anywhere on the LAN."""
    return [f"server=/consul/{spec.host(h).address}#{CONSUL_DNS_PORT}"
            for h in spec.placement.consul or []]


def metadata_route(spec: StackSpec, router) -> list[str]:
    """When the metadata service is not on the router, a classless static route (option 121)
    leads instances to it; such a route list replaces the router option, so it repeats the
    default route (RFC 3442)."""
    host = spec.placement.metadata
    if not host or (spec.gateway and host == spec.gateway.host):
        return []
    address = spec.host(host).address
    return [f"dhcp-option=tag:lan,option:classless-static-route,"
            f"{metadata_config.ADDRESS}/32,{address},0.0.0.0/0,{router}"]


def lease_interface(spec: StackSpec) -> str:
    """The LAN port of the DHCP host, where its leases' neighbours are."""
    listen = listen_of(spec)
    return listen.interface or spec.lan_interface_of(spec.host(spec.dns_host))


def lease_hook_script(interface: str, python: Optional[str] = None,
                      pythonpath: Optional[str] = None, config: Optional[str] = None) -> str:
    """dnsmasq's dhcp-script (run as root). Each IPv4 lease pins its address to its MAC in this
    host's neighbour table (`nud permanent`) while it lasts, so a device announcing the address
    from another MAC (gratuitous ARP) is not believed here: traffic routed or answered for the
    address reaches the lease holder. With `python`, the event then goes on to the metadata
    service on another host (services/metadata/lease_hook.py)."""
    dev = shlex.quote(interface)
    text = ("#!/bin/sh\n# Mammatus: dnsmasq's lease script (generated; do not edit)\n"
            'if [ -z "${DNSMASQ_IAID:-}" ]; then\n'
            '  case "$1" in\n'
            f'    add|old) ip neigh replace "$3" lladdr "$2" dev {dev} nud permanent || true ;;\n'
            f'    del) ip neigh del "$3" dev {dev} 2>/dev/null || true ;;\n'
            "  esac\n"
            "fi\n")
    if python:
        text += (f"PYTHONPATH={shlex.quote(pythonpath or '')} exec {shlex.quote(python)} "
                 f"-m services.metadata.lease_hook --config {shlex.quote(config or '')} \"$@\"\n")
    return text


def directories(spec: StackSpec, paths: DnsmasqPaths) -> list[str]:
    """Directories that must exist before dnsmasq starts."""
    import posixpath
    dirs = [paths.conf_dir, paths.dhcp_hosts_dir, paths.hosts_dir,
            posixpath.dirname(paths.lease_file), posixpath.dirname(paths.pid_file),
            posixpath.dirname(paths.config)]
    if spec.network is not None and spec.network.pxe.enabled:
        dirs.append(paths.tftp_root or spec.network.pxe.tftp_root)
    return list(dict.fromkeys(dirs))
