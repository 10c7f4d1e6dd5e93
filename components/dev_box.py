"""The cloud in a box: the dev stack's hosts as machines on this one machine.

    upstream ns (192.0.2.1, WAN side, no way out)
        |  veth                                          the LAN switch ns (`<prefix>-lan`):
    bridge `brwan` -------- gateway container wan0       bridges br0 (LAN) and brwan (WAN), and
    bridge `br0` ---------- gateway container lan0       the dev box's own LXD (`box/lxd` under
                   |------- control, storage, compute    runDir), whose containers are the hosts
                   |------- client ns (DHCP only)
                   |  veth
    this machine: <devBox.machineLanAddress> on `<prefix>-lan0` (SSH to the hosts), with FORWARD
    dropped both ways so nothing on the LAN reaches the real uplink.

Each host is an unprivileged LXD system container (dynamic_providers/dev_host.py): Debian 12 as
an installer leaves a server (the host image of dynamic_providers/rootfs_image.py: systemd as
PID 1, sshd, no cloud-init), its NICs bridged as above, a static address, the admin's key and a
host key the stack pins. Everything else reaches it over SSH with the code a real host gets:
systemd units, its own `/`, the Delivery layer's packages and binaries. The compute host runs
LXD nested (`security.nesting`) and its instances sit on the LAN by macvlan on its eth0.

What stays special to the dev stack is only this "hardware": namespaces, bridges, the dev box's
LXD and its containers, the WAN's DNS and web server.
"""

from __future__ import annotations

import shlex
import sys
from typing import Optional

import pulumi
import pulumi_command as command
import pulumi_tls as tls
import yaml

from components.service_manager import digest
from dynamic_providers.dev_host import DevHost
from dynamic_providers.local_daemon import LocalDaemon
from dynamic_providers.netplane import Bridge, IptablesRules, NetNamespace, VethPair
from dynamic_providers.rootfs_image import RootfsImage, host_recipe
from stacks.spec import DevBox, Host, Role, StackSpec


def machine_interface(box: DevBox) -> str:
    return f"{box.prefix}-lan0"


UPSTREAM_NAME = "upstream.test"
LAN_BRIDGE, WAN_BRIDGE = "br0", "brwan"

# LXD in a network namespace (`ip netns exec` remounts /sys and so drops the cgroup mounts LXD
# needs): mount the machine's cgroup hierarchies again, then run LXD in the foreground.
NETNS_LXD = r"""
set -e
if ! mountpoint -q /sys/fs/cgroup; then
  if awk '$2 == "/sys/fs/cgroup" && $3 == "cgroup2" { f = 1 } END { exit !f }' /proc/1/mounts; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup          # unified (a systemd host)
  else                                                # hybrid/legacy: each hierarchy again
    mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
    awk '$2 ~ "^/sys/fs/cgroup/" && $3 ~ "^cgroup" { sub("^/sys/fs/cgroup/", "", $2); print $2, $3, $4 }' \
        /proc/1/mounts | while read -r dir type opts; do
      mkdir -p "/sys/fs/cgroup/$dir"
      mount -t "$type" -o "$opts" "$type" "/sys/fs/cgroup/$dir"
    done
  fi
fi
mkdir -p "$LXD_DIR" && chmod 0711 "$LXD_DIR"
exec lxd --group root --logfile "$1"
"""

# The dev box's LXD: a dir pool and a root disk; NICs are per container, on the box's bridges.
BOX_PRESEED = yaml.safe_dump({
    "storage_pools": [{"name": "default", "driver": "dir"}],
    "profiles": [{"name": "default", "devices": {
        "root": {"path": "/", "pool": "default", "type": "disk"}}}],
})

# A quirk of some machines (this one among them), part of the box's hardware: the kernel has cpu
# and cpuacct as two cgroup v1 hierarchies, systemd in a container expects them joined and leaves
# both unmounted, and LXD nested in the container then cannot start anything. Mount them.
CGROUP_V1_SCRIPT = r"""
changed=
for c in cpu cpuacct; do
  grep -qE "^[0-9]+:$c:" /proc/self/cgroup || continue
  mountpoint -q "/sys/fs/cgroup/$c" && continue
  [ -n "$changed" ] || mount -o remount,rw /sys/fs/cgroup
  rm -f "/sys/fs/cgroup/$c"; mkdir -p "/sys/fs/cgroup/$c"
  mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
  changed=1
done
if [ -n "$changed" ]; then rmdir /sys/fs/cgroup/cpu,cpuacct 2>/dev/null; mount -o remount,ro /sys/fs/cgroup; fi
exit 0
"""
CGROUP_V1_UNIT = """[Unit]
Description=Dev box: mount the separate cpu and cpuacct cgroup v1 hierarchies (nested LXD)
DefaultDependencies=no
After=local-fs.target
Before=lxd.service lxd.socket sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /usr/local/sbin/devbox-cgroup-v1

[Install]
WantedBy=sysinit.target
"""
CGROUP_V1_UNIT_PATH = "/etc/systemd/system/devbox-cgroup-v1.service"
CGROUP_V1_SCRIPT_PATH = "/usr/local/sbin/devbox-cgroup-v1"
# The image's host keys are the same in every container: only the pinned one stays.
IMAGE_HOST_KEYS = [f"/etc/ssh/ssh_host_{t}_key{s}" for t in ("rsa", "ecdsa") for s in ("", ".pub")]


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


def host_nics(spec: StackSpec, host: Host) -> list[dict]:
    """The host's NICs: its LAN port on br0, and the gateway's WAN port on brwan."""
    nics = [{"device": "lan", "bridge": LAN_BRIDGE, "ifname": spec.lan_interface_of(host)}]
    if spec.gateway is not None and host.name == spec.gateway.host:
        nics.append({"device": "wan", "bridge": WAN_BRIDGE, "ifname": spec.gateway.wan_interface})
    return nics


def host_interfaces(spec: StackSpec, box: DevBox, host: Host) -> str:
    """/etc/network/interfaces.d/ of a host (ifupdown): what its installer would have left."""
    prefix = spec.network.lan_subnet.prefixlen if spec.network else 24
    is_gateway = spec.gateway is not None and host.name == spec.gateway.host
    lines = [f"auto {spec.lan_interface_of(host)}",
             f"iface {spec.lan_interface_of(host)} inet static",
             f"    address {host.address}/{prefix}"]
    if is_gateway:
        lines += ["", f"auto {spec.gateway.wan_interface}",
                  f"iface {spec.gateway.wan_interface} inet static",
                  f"    address {box.gateway_wan_address}",
                  f"    gateway {box.upstream_address.ip}"]
    elif spec.gateway is not None:
        lines.append(f"    gateway {spec.gateway.lan_address}")
    return "\n".join(lines) + "\n"


def host_resolv_conf(spec: StackSpec, box: DevBox, host: Host) -> str:
    """The cloud's DNS server (the gateway's dnsmasq) and its domain."""
    server = spec.gateway.lan_address if spec.gateway else box.upstream_address.ip
    search = f"search {spec.network.domain}\n" if spec.network else ""
    return f"{search}nameserver {server}\n"


class DevBoxPlane(pulumi.ComponentResource):
    """The LAN switch, the WAN, the dev box's LXD and one container per host."""
    machine_lan_address: pulumi.Output[str]
    upstream_netns: pulumi.Output[str]
    lan_switch_netns: pulumi.Output[str]
    lxd_dir: str

    def __init__(self, name: str, spec: StackSpec, admin_public_key: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:dev:DevBoxPlane", name, None, opts)
        box = spec.dev_box or DevBox()
        prefix = box.prefix

        def child(*depends_on):
            return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

        upstream = NetNamespace(f"{name}-ns-wan", name=f"{prefix}-wan", opts=child())
        switch = NetNamespace(f"{name}-ns-lan", name=f"{prefix}-lan", opts=child())
        bridge = Bridge(f"{name}-lan-bridge", bridge={"netns": switch.name, "ifname": LAN_BRIDGE},
                        opts=child(switch))
        wan_bridge = Bridge(f"{name}-wan-bridge",
                            bridge={"netns": switch.name, "ifname": WAN_BRIDGE}, opts=child(switch))
        uplink = VethPair(
            f"{name}-upstream-link",
            a={"netns": upstream.name, "ifname": "uplink", "addresses": [str(box.upstream_address)]},
            b={"netns": switch.name, "ifname": "upstream", "master": WAN_BRIDGE},
            opts=child(upstream, wan_bridge))

        machine_if = machine_interface(box)
        machine_link = VethPair(
            f"{name}-machine-link",
            a={"netns": "", "ifname": machine_if, "addresses": [str(box.machine_lan_address)]},
            b={"netns": switch.name, "ifname": "machine", "master": LAN_BRIDGE}, opts=child(bridge))
        # Its own type since the rules must come back by `up` alone after a reboot: the old
        # Command made them once. Replacing it inserts the new rules before the old go.
        guard = IptablesRules(f"{name}-forward-guard", rules=isolation_rules(machine_if),
                              opts=child(machine_link))

        lxd, image_alias = self._box_lxd(name, spec, switch, [bridge, wan_bridge])
        ready: list[pulumi.Resource] = [guard]
        # Each host's public host key: every SSH connection to it insists on that key.
        self.host_keys: dict[str, pulumi.Output[str]] = {}
        self.hosts: dict[str, DevHost] = {}
        for host in spec.hosts:
            self.hosts[host.name] = self._host(name, spec, box, host, admin_public_key,
                                               image_alias, [lxd, bridge, wan_bridge, guard])
            ready.append(self.hosts[host.name])
        ready += self._upstream_services(name, spec, box, upstream, [uplink])

        self.machine_lan_address = pulumi.Output.from_input(str(box.machine_lan_address.ip))
        self.upstream_netns = upstream.name
        self.lan_switch_netns = switch.name
        self._ready = ready
        self.bridge = bridge
        self.register_outputs({"machine_lan_address": self.machine_lan_address,
                               "upstream_netns": self.upstream_netns,
                               "lxd_dir": self.lxd_dir})

    def _box_lxd(self, name: str, spec: StackSpec, switch: NetNamespace,
                 bridges: list[pulumi.Resource]):
        """The dev box's own LXD, in the switch namespace (its bridges are there), with its
        LXD_DIR under runDir; and the host image imported into it. It starts after the bridges,
        so the containers it restores after a reboot find their NICs' parents."""
        root = f"{spec.run_dir}/box"
        self.lxd_dir = lxd_dir = f"{root}/lxd"
        env = {"LXD_DIR": lxd_dir}
        d = shlex.quote(lxd_dir)
        # Removed after the daemon has stopped: unmount what LXD left mounted, then the files.
        directory = command.local.Command(
            f"{name}-lxd-dir", create=f"mkdir -p {d} && chmod 0711 {shlex.quote(root)} {d}",
            delete=f"findmnt -R -n -o TARGET {d} 2>/dev/null | sort -r | xargs -r -n1 umount -l; "
                   f"rm -rf {shlex.quote(root)}",
            opts=pulumi.ResourceOptions(parent=self))
        daemon = LocalDaemon(
            f"{name}-lxd", netns=switch.name,
            argv=["env", f"LXD_DIR={lxd_dir}", "sh", "-c", NETNS_LXD, "lxd", f"{root}/lxd.log"],
            pid_file=f"{root}/lxd.pid", log_file=f"{root}/lxd.out",
            config_digest=digest(NETNS_LXD),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[switch, directory, *bridges]))
        init = command.local.Command(
            f"{name}-lxd-init", environment=env, stdin=BOX_PRESEED,
            create="lxd waitready --timeout 60 && lxd init --preseed",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[daemon]))
        image = RootfsImage(f"{name}-host-image", packages=host_recipe()["packages"],
                            opts=pulumi.ResourceOptions(parent=self))
        alias = image.sha256.apply(lambda sha: f"mammatus-host-{(sha or '')[:12]}")
        imported = command.local.Command(
            f"{name}-host-image-import", environment=env,
            create=pulumi.Output.all(image.path, alias).apply(
                lambda a: f"lxc image info {a[1]} >/dev/null 2>&1 || "
                          f"lxc image import {shlex.quote(a[0])} --alias {a[1]}"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[init]))
        self._box_resources = [daemon, init, imported]
        return imported, pulumi.Output.all(alias, imported.id).apply(lambda a: a[0])

    def _host(self, name: str, spec: StackSpec, box: DevBox, host: Host, admin_public_key,
              image_alias, after: list[pulumi.Resource]) -> DevHost:
        opts = pulumi.ResourceOptions(parent=self)
        host_key = tls.PrivateKey(f"{name}-{host.name}-host-key", algorithm="ED25519", opts=opts)
        self.host_keys[host.name] = host_key.public_key_openssh.apply(lambda k: (k or "").strip() or None)
        nesting = Role.compute in host.roles
        files = pulumi.Output.all(host_key.private_key_openssh, host_key.public_key_openssh,
                                  admin_public_key).apply(lambda k: [
            {"path": "/etc/ssh/ssh_host_ed25519_key", "mode": "0600", "content": k[0]},
            {"path": "/etc/ssh/ssh_host_ed25519_key.pub", "mode": "0644", "content": k[1]},
            {"path": "/root/.ssh/authorized_keys", "mode": "0600", "content": k[2].strip() + "\n"},
            {"path": "/etc/network/interfaces.d/mammatus-devbox", "mode": "0644",
             "content": host_interfaces(spec, box, host)},
            {"path": "/etc/resolv.conf", "mode": "0644",
             "content": host_resolv_conf(spec, box, host)},
            *([{"path": CGROUP_V1_UNIT_PATH, "mode": "0644", "content": CGROUP_V1_UNIT},
               {"path": CGROUP_V1_SCRIPT_PATH, "mode": "0755", "content": CGROUP_V1_SCRIPT}]
              if nesting else [])])
        return DevHost(
            f"{name}-{host.name}", lxd_dir=self.lxd_dir, name=f"{box.prefix}-{host.name}",
            image=image_alias, nics=host_nics(spec, host), files=pulumi.Output.secret(files),
            address=str(host.address), ssh_port=host.ssh_port, nesting=nesting,
            remove=IMAGE_HOST_KEYS,
            after_boot=[f"systemctl enable --now {CGROUP_V1_UNIT_PATH.rsplit('/', 1)[1]}"]
            if nesting else [],
            opts=pulumi.ResourceOptions(parent=self, depends_on=after))

    def _upstream_services(self, name: str, spec: StackSpec, box: DevBox,
                           upstream: NetNamespace, links: list[pulumi.Resource]
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upstream, *links]))
        web = LocalDaemon(
            f"{name}-upstream-web",
            argv=[sys.executable, "-m", "http.server", "--bind", address, "--directory", f"{root}/www", "80"],
            netns=upstream.name, pid_file=f"{root}/run/web.pid", log_file=f"{root}/run/web.log",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upstream, page, *links]))
        return [dns, web]


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
        # The last lease's address goes before the client starts, so what `up` reads is this
        # client's lease (after a reboot its link, hence its MAC and lease, are new).
        client = LocalDaemon(
            f"{name}-dhcp", netns=ns.name, config_digest=digest(DHCP_SCRIPT),
            argv=["env", f"NETNS={netns}", f"LEASE_FILE={lease_file}", "sh", "-c",
                  'rm -f "$LEASE_FILE" && exec "$@"', "udhcpc", "udhcpc", "-f", "-i", "eth0",
                  "-s", f"{root}/dhcp-event", "-x", "hostname:client", "-O", "staticroutes",
                  "-t", "20", "-T", "1"],
            pid_file=f"{root}/run/udhcpc.pid", log_file=f"{root}/run/udhcpc.log",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[link, script, dhcp_server]))
        # Wait for the lease, so `up` ends with a client that can be used at once; read again
        # whenever the client has restarted.
        lease = command.local.Command(
            f"{name}-lease",
            create=f"for i in $(seq 100); do [ -s {lease_file} ] && exec cat {lease_file}; "
                   f"sleep 0.2; done; echo 'no DHCP lease after 20 s' >&2; exit 1",
            triggers=[client.pid],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[client]))
        self.netns = ns.name
        self.address = lease.stdout.apply(lambda s: (s or "").strip())
        self.register_outputs({"netns": self.netns, "address": self.address})
