"""The cloud in a box: the dev stack's hosts as network namespaces on this one machine.

    upstream ns (192.0.2.1, WAN side, no way out)
        |  veth
    gateway ns: wan 192.0.2.2 | lan <gateway.lanAddress>
        |  veth
    LAN switch ns (bridge br0) ---- veth ---- each LAN host ns (control, storage …)
        |  veth
    this machine: <devBox.machineLanAddress> on `<prefix>-lan0` (SSH to the hosts), with FORWARD
    dropped both ways so nothing on the LAN reaches the real uplink.

The compute host is a namespace like the others: the Compute layer starts LXD in it and its
instances sit on the LAN through a macvlan on the host's LAN veth.

Every host gets its own file root (`<runDir>/hosts/<name>`) and its own sshd (keys only),
started in its namespace; from then on it is configured over SSH like a real host.
"""

from __future__ import annotations

import shlex
import sys
from typing import Optional

import pulumi
import pulumi_command as command
import pulumi_tls as tls

from components.render import sshd
from components.service_manager import digest
from dynamic_providers.local_daemon import LocalDaemon
from dynamic_providers.netplane import Bridge, NetNamespace, VethPair
from stacks.spec import DevBox, Host, StackSpec


def host_netns(box: DevBox, host: Host) -> str:
    return host.netns or f"{box.prefix}-{host.name}"


def machine_interface(box: DevBox) -> str:
    return f"{box.prefix}-lan0"


def host_sshd_config(host: Host) -> str:
    root = host.file_root
    return sshd.render(
        port=host.ssh_port, listen_addresses=[str(host.address)],
        authorized_keys_dir=f"{root}/etc/ssh/authorized_keys.d",
        host_keys=[f"{root}/etc/ssh/ssh_host_ed25519_key"], pid_file=f"{root}/run/sshd.pid",
        use_pam=False)


UPSTREAM_NAME = "upstream.test"


def upstream_dns_argv(address: str, pid_file: str) -> list[str]:
    """A resolver for the WAN side: answers `upstream.test` itself and forwards nothing."""
    return ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--bind-interfaces", f"--listen-address={address}", f"--pid-file={pid_file}",
            f"--address=/{UPSTREAM_NAME}/{address}", "--log-queries", "--log-facility=-"]


def isolation_rules(interface: str) -> list[list[str]]:
    """iptables rules (for -I/-D) that keep the LAN from being forwarded by this machine."""
    return [["FORWARD", "-i", interface, "-j", "DROP"], ["FORWARD", "-o", interface, "-j", "DROP"]]


def _write_file(path: str) -> str:
    return f"install -D -m 0600 /dev/stdin {shlex.quote(path)}"


class DevBoxPlane(pulumi.ComponentResource):
    """Namespaces, links, the LAN bridge and one sshd per host: the hardware of the dev stack."""
    machine_lan_address: pulumi.Output[str]
    upstream_netns: pulumi.Output[str]
    lan_switch_netns: pulumi.Output[str]
    ready: pulumi.Output[list]

    def __init__(self, name: str, spec: StackSpec, admin_public_key: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:dev:DevBoxPlane", name, None, opts)
        box = spec.dev_box or DevBox()
        gateway = spec.gateway
        prefix = box.prefix

        def child(*depends_on):
            return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

        upstream = NetNamespace(f"{name}-ns-wan", name=f"{prefix}-wan", opts=child())
        switch = NetNamespace(f"{name}-ns-lan", name=f"{prefix}-lan", opts=child())
        bridge = Bridge(f"{name}-lan-bridge", bridge={"netns": switch.name, "ifname": "br0"},
                        opts=child(switch))

        machine_if = machine_interface(box)
        machine_link = VethPair(
            f"{name}-machine-link",
            a={"netns": "", "ifname": machine_if, "addresses": [str(box.machine_lan_address)]},
            b={"netns": switch.name, "ifname": "machine", "master": "br0"}, opts=child(bridge))
        guard = command.local.Command(
            f"{name}-forward-guard",
            create=" && ".join(f"iptables -I {shlex.join(r)}" for r in isolation_rules(machine_if)),
            delete="; ".join(f"iptables -D {shlex.join(r)}" for r in isolation_rules(machine_if)),
            opts=child(machine_link))

        ready: list[pulumi.Resource] = [guard]
        # Each host's public host key: every SSH connection to it insists on that key.
        self.host_keys: dict[str, pulumi.Output[str]] = {}
        wan_links: list[pulumi.Resource] = []
        for host in spec.hosts:
            ns = NetNamespace(f"{name}-ns-{host.name}", name=host_netns(box, host), opts=child())
            lan_address = f"{host.address}/{spec.network.lan_subnet.prefixlen}"
            is_gateway = gateway is not None and host.name == gateway.host
            lan = VethPair(
                f"{name}-{host.name}-lan",
                a={"netns": ns.name, "ifname": spec.lan_interface_of(host),
                   "addresses": [lan_address],
                   "gateway": "" if is_gateway else str(gateway.lan_address)},
                b={"netns": switch.name, "ifname": host.name[:15], "master": "br0"},
                opts=child(bridge, ns))
            links: list[pulumi.Resource] = [lan]
            if is_gateway:
                wan_links.append(VethPair(
                    f"{name}-{host.name}-wan",
                    a={"netns": ns.name, "ifname": gateway.wan_interface,
                       "addresses": [str(box.gateway_wan_address)],
                       "gateway": str(box.upstream_address.ip)},
                    b={"netns": upstream.name, "ifname": "uplink",
                       "addresses": [str(box.upstream_address)]},
                    opts=child(ns, upstream)))
                links.append(wan_links[-1])
            ready.append(self._sshd(name, host, ns, admin_public_key, links))
        # The upstream address exists once the gateway's WAN link is up.
        ready += self._upstream_services(name, spec, box, upstream, wan_links)

        self.machine_lan_address = pulumi.Output.from_input(str(box.machine_lan_address.ip))
        self.upstream_netns = upstream.name
        self.lan_switch_netns = switch.name
        self.ready = pulumi.Output.all(*[r.urn for r in ready])
        self._ready = ready
        self.bridge = bridge
        self.register_outputs({"machine_lan_address": self.machine_lan_address,
                               "upstream_netns": self.upstream_netns})

    def _upstream_services(self, name: str, spec: StackSpec, box: DevBox,
                           upstream: NetNamespace, wan_links: list[pulumi.Resource]
                           ) -> list[pulumi.Resource]:
        """What the WAN offers the cloud: a DNS resolver (the cloud's upstream DNS) and a web
        server, both in the upstream namespace, so NAT and forwarding can be tried for real."""
        root = f"{spec.run_dir}/upstream"
        address = str(box.upstream_address.ip)
        page = command.local.Command(
            f"{name}-upstream-page", create=_write_file(f"{root}/www/index.html").replace("0600", "0644"),
            delete=f"rm -rf {shlex.quote(root)}/www", stdin="hello from upstream\n",
            opts=pulumi.ResourceOptions(parent=self))
        dns_argv = upstream_dns_argv(address, f"{root}/dnsmasq.pid")
        dns = LocalDaemon(
            f"{name}-upstream-dns", argv=dns_argv, netns=upstream.name,
            pid_file=f"{root}/run/dns.pid", log_file=f"{root}/run/dns.log",
            config_digest=digest(*dns_argv),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upstream, *wan_links]))
        web = LocalDaemon(
            f"{name}-upstream-web",
            argv=[sys.executable, "-m", "http.server", "--bind", address, "--directory", f"{root}/www", "80"],
            netns=upstream.name, pid_file=f"{root}/run/web.pid", log_file=f"{root}/run/web.log",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upstream, page, *wan_links]))
        return [dns, web]

    def _sshd(self, name: str, host: Host, ns: NetNamespace, admin_public_key,
              links: list[pulumi.Resource]) -> pulumi.Resource:
        root = host.file_root
        opts = pulumi.ResourceOptions(parent=self)
        host_key = tls.PrivateKey(f"{name}-{host.name}-host-key", algorithm="ED25519", opts=opts)
        self.host_keys[host.name] = host_key.public_key_openssh.apply(lambda k: (k or "").strip() or None)
        files = [
            command.local.Command(
                f"{name}-{host.name}-host-key-file",
                create=_write_file(f"{root}/etc/ssh/ssh_host_ed25519_key"),
                delete=f"rm -f {shlex.quote(root)}/etc/ssh/ssh_host_ed25519_key",
                stdin=host_key.private_key_openssh, opts=opts),
            command.local.Command(
                f"{name}-{host.name}-authorized-key",
                create=_write_file(f"{root}/etc/ssh/authorized_keys.d/{host.ssh_user}"),
                delete=f"rm -f {shlex.quote(root)}/etc/ssh/authorized_keys.d/{host.ssh_user}",
                stdin=admin_public_key, opts=opts),
        ]
        config = host_sshd_config(host)
        files.append(command.local.Command(
            f"{name}-{host.name}-sshd-config", create=_write_file(f"{root}/etc/ssh/sshd_config"),
            delete=f"rm -f {shlex.quote(root)}/etc/ssh/sshd_config", stdin=config, opts=opts))
        return LocalDaemon(
            f"{name}-{host.name}-sshd",
            # /run/sshd is sshd's privilege-separation directory; no init script made it here.
            argv=["sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -f "
                  + shlex.quote(f"{root}/etc/ssh/sshd_config")],
            netns=ns.name, pid_file=f"{root}/run/mammatus/sshd.pid",
            log_file=f"{root}/run/mammatus/sshd.log", config_digest=digest(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*files, *links]))


def dev_hosts_ready(plane: DevBoxPlane) -> list[pulumi.Resource]:
    """Resources a layer must depend on before it may SSH into the dev hosts."""
    return plane._ready


DHCP_SCRIPT = """#!/bin/sh
# udhcpc event script of the dev box's client namespace: address and routes from the lease (the
# classless static routes of option 121 when given, which replace the router as RFC 3442 says),
# and DNS into /etc/netns/<ns>/resolv.conf, which `ip netns exec` shows the namespace as its own.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$1" = 0.0.0.0/0 ]; then ip route replace default via "$2" dev "$interface"
        else ip route replace "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    elif [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    mkdir -p "/etc/netns/$NETNS"
    { [ -n "$domain" ] && echo "search $domain"
      for server in $dns; do echo "nameserver $server"; done; } > "/etc/netns/$NETNS/resolv.conf"
    echo "$ip" > "$LEASE_FILE" ;;
esac
"""


class DevClient(pulumi.ComponentResource):
    """A machine on the LAN with nothing but a DHCP client: the user's shell inside the cloud
    (`ip netns exec $(bin/pulumi stack output client_netns) bash`)."""
    netns: pulumi.Output[str]
    address: pulumi.Output[str]

    def __init__(self, name: str, spec: StackSpec, plane: DevBoxPlane,
                 dhcp_server: pulumi.Resource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:dev:DevClient", name, None, opts)
        box = spec.dev_box or DevBox()
        netns = f"{box.prefix}-client"
        root = f"{spec.run_dir}/client"
        child = pulumi.ResourceOptions(parent=self)
        ns = NetNamespace(f"{name}-ns", name=netns, opts=child)
        link = VethPair(f"{name}-lan", a={"netns": ns.name, "ifname": "eth0"},
                        b={"netns": plane.lan_switch_netns, "ifname": "client", "master": "br0"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, plane.bridge]))
        script = command.local.Command(
            f"{name}-dhcp-script", create=_write_file(f"{root}/dhcp-event").replace("0600", "0755"),
            delete=f"rm -rf {shlex.quote(root)} /etc/netns/{netns}", stdin=DHCP_SCRIPT, opts=child)
        lease_file = f"{root}/address"
        client = LocalDaemon(
            f"{name}-dhcp", netns=ns.name, config_digest=digest(DHCP_SCRIPT),
            argv=["env", f"NETNS={netns}", f"LEASE_FILE={lease_file}", "udhcpc", "-f", "-i", "eth0",
                  "-s", f"{root}/dhcp-event", "-x", "hostname:client", "-O", "staticroutes",
                  "-t", "20", "-T", "1"],
            pid_file=f"{root}/run/udhcpc.pid", log_file=f"{root}/run/udhcpc.log",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[link, script, dhcp_server]))
        # Wait for the lease, so `up` ends with a client that can be used at once.
        lease = command.local.Command(
            f"{name}-lease",
            create=f"for i in $(seq 100); do [ -s {lease_file} ] && exec cat {lease_file}; "
                   f"sleep 0.2; done; echo 'no DHCP lease after 20 s' >&2; exit 1",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[client]))
        self.netns = ns.name
        self.address = lease.stdout.apply(lambda s: s.strip())
        self.register_outputs({"netns": self.netns, "address": self.address})
