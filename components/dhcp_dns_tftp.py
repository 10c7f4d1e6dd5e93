"""mammatus:network:DhcpDnsTftp — dnsmasq on the host placed as `dns` (default: the gateway):
DHCP range with router/DNS options, local domain with a name for every host, upstream servers
(1.1.1.1 by default), PXE/iPXE boot and read-only TFTP (components/render/dnsmasq.py). The spec's
reservations and records are dnsmasq provider resources (one file each + SIGHUP), so adding one
does not restart dnsmasq; later layers add their own through `server` (a DhcpServer).

PXE: the TFTP root is filled from the Debian packages Delivery installed on this host
(stacks/artifacts.py pxe_packages: iPXE for BIOS and x86-64 UEFI; with machines to install, Debian 12's netboot
installers, whose arm64 one carries the ARM64 UEFI loader) and holds the iPXE script
(components/render/ipxe.py) that boots each machine of network.pxe.machines into the installer
with its preseed. Everything is served over TFTP by dnsmasq itself: no other daemon, no other
port on the firewall.

Needs nothing from earlier layers; provides `server` (components/contracts.DhcpServer) for
Metadata, Compute, the load balancer and the dev box's client."""

from __future__ import annotations

import shlex
from typing import Optional

import pulumi
import pulumi_command as command

from components.runtime import python_runtime
from components.context import CloudContext
from components.contracts import DhcpServer, WiringError
from components.host import HostFile, HostService, host_dirs
from components.render import dnsmasq, ipxe
from components.service_manager import Daemon, digest
from dynamic_providers.dnsmasq import DnsmasqRecord, DnsmasqReservation




IPXE_DIR = "/usr/lib/ipxe"
IPXE_FILES = ("undionly.kpxe", "ipxe.efi", "snponly.efi")   # BIOS, x86-64 UEFI (all drivers, SNP only)
SHIM_AND_GRUB = {"amd64": ("bootnetx64.efi", "grubx64.efi"), "arm64": ("bootnetaa64.efi", "grubaa64.efi")}


def pxe_boot_files_command(tftp_root: str, pins: dict[str, str] | None = None,
                           installers: bool = True) -> str:
    """Fills the TFTP root from the Debian packages the DNS host was given (PXE_PACKAGES):
    iPXE for BIOS and x86-64 UEFI (ipxe), and Debian 12's netboot installers for amd64 (what
    the iPXE script boots) and arm64 (its signed shim and GRUB are the ARM64 UEFI loader),
    all read-only. `pins` (package: version) go into the command, so a new pin copies again.
    Without `installers` (no machine to install: Pxe.installs) iPXE alone."""
    q = shlex.quote
    root = tftp_root.rstrip("/")
    lines = [f"# {' '.join(f'{k}={v}' for k, v in sorted((pins or {}).items()))}", "set -e"]
    # Under their own names: the spec's boot files name which file of the root each firmware
    # is offered (e.g. Debian's signed shim for x86-64 UEFI with Secure Boot on).
    lines += [f"install -m 0444 {IPXE_DIR}/{name} {q(root + '/' + name)}" for name in IPXE_FILES]
    for arch in ("amd64", "arm64") if installers else ():
        source = ipxe.NETBOOT_SOURCE.format(arch=arch)
        dest = q(f"{root}/{ipxe.INSTALLER_DIR.format(arch=arch)}")
        # A fresh copy next to the old one, then swapped in: a client booting meanwhile reads
        # one whole version.
        lines += [f"mkdir -p {q(root + '/debian-installer')} && rm -rf {dest}.new",
                  f"cp -RL {q(source)} {dest}.new && chmod -R a-w,a+rX {dest}.new",
                  f"rm -rf {dest} && mv {dest}.new {dest}"]
        # Debian's signed shim and GRUB at the top as well, as in Debian's netboot tarball: the
        # shim fetches GRUB from the TFTP root, whatever path it came from (GRUB then reads
        # its config from its own prefix, debian-installer/<arch>/grub).
        lines += [f"install -m 0444 {q(source + '/' + name)} {q(root + '/' + name)}"
                  for name in SHIM_AND_GRUB[arch]]
    return "\n".join(lines)


def pxe_pins(spec, host_name: str) -> dict[str, str]:
    """The pinned versions of what fills the TFTP root, for the DNS host's platform."""
    from components.delivery import dist_dir
    from stacks.artifacts import platform_of, pxe_packages
    from tools.dist import debs

    return debs.versions(dist_dir(), platform_of(spec.host(host_name)), pxe_packages(spec))


class DhcpDnsTftp(pulumi.ComponentResource):
    host: pulumi.Output[str]
    dns_address: pulumi.Output[str]
    domain: pulumi.Output[str]
    config_path: pulumi.Output[str]
    config: pulumi.Output[str]
    reservations: pulumi.Output[list]
    records: pulumi.Output[list]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:network:DhcpDnsTftp", name, None, opts)
        spec = ctx.spec
        net = spec.network
        if net is None:
            raise WiringError("the DhcpDnsTftp layer needs mammatus:network")
        host_name = spec.dns_host
        if host_name is None:
            raise WiringError("the DhcpDnsTftp layer needs mammatus:placement.dns or mammatus:gateway")
        access = ctx.access(host_name)
        listen = dnsmasq.listen_of(spec)
        on_host = dnsmasq.DnsmasqPaths(tftp_root=net.pxe.tftp_root)   # paths as the host sees them
        text = dnsmasq.render(spec, on_host, inline_resources=False)
        child = pulumi.ResourceOptions(parent=self)

        dirs = host_dirs(f"{name}-dirs", access, dnsmasq.directories(spec, on_host), self)
        conf = HostFile(f"{name}-config", access, on_host.config, text,
                        opts=child)
        check = command.remote.Command(
            f"{name}-check", connection=access.connection(),
            create=f"# {digest(text)}\ndnsmasq --test -C {shlex.quote(on_host.config)}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[dirs, conf]))
        boot_files = []
        tftp_root = on_host.tftp_root or net.pxe.tftp_root
        if net.pxe.enabled:
            # The loaders PXE firmware fetches first and the installers, from the Debian
            # packages delivered to this host (stacks/artifacts.py pxe_packages).
            boot_files.append(command.remote.Command(
                f"{name}-boot-files", connection=access.connection(),
                create=pxe_boot_files_command(tftp_root, pxe_pins(spec, host_name),
                                              installers=net.pxe.installs),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[dirs])))
            if not net.pxe.ipxe_script:
                # What iPXE chains to: the installer for each machine of pxe.machines.
                boot_files.append(HostFile(
                    f"{name}-ipxe-script", access, f"{tftp_root.rstrip('/')}/{ipxe.SCRIPT}",
                    ipxe.render(net), mode="0444",
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[dirs])))
        # dnsmasq's lease script pins each lease's MAC here; when the metadata service is
        # elsewhere it also tells it every lease (its config and key come with the Metadata
        # layer; until then that part is idle).
        runtime = python_runtime(ctx, access) if spec.pushes_leases else None
        pusher = (runtime.python, runtime.pythonpath, on_host.lease_hook_config) if runtime else ()
        hook = [HostFile(
            f"{name}-lease-hook", access, on_host.lease_hook,
            dnsmasq.lease_hook_script(dnsmasq.lease_interface(spec), *pusher), mode="0755",
            opts=pulumi.ResourceOptions(parent=self,
                                        depends_on=[dirs, *(runtime.deps if runtime else ())]))]
        # dnsmasq re-reads its hosts files on SIGHUP but not dnsmasq.conf: a config change restarts.
        service = HostService(
            f"{name}-dnsmasq", access,
            Daemon(name="dnsmasq", description="DHCP, DNS and TFTP",
                   command=["dnsmasq", "--keep-in-foreground", f"--conf-file={on_host.config}"]),
            config=[text], depends_on=[check, *boot_files, *hook], opts=child)

        target = {
            "connection": access.connection_dict(),
            "dhcp_hosts_dir": on_host.dhcp_hosts_dir, "hosts_dir": on_host.hosts_dir,
            "lease_file": on_host.lease_file, "pid_file": on_host.pid_file,
        }
        # For the Metadata layer on another host: where the lease hook looks (host's view).
        # "resource": the hook on disk, its interpreter (the host's venv) ready.
        lease_hook = {"hook": on_host.lease_hook, "config": on_host.lease_hook_config,
                      "key": on_host.lease_hook_key, "key_path": on_host.lease_hook_key,
                      "resource": hook[0] if runtime else None}
        after_service = pulumi.ResourceOptions(parent=self, depends_on=[service])
        reservations = [
            DnsmasqReservation(f"{name}-reservation-{r.hostname}", mac=r.mac, address=str(r.address),
                               hostname=r.hostname, target=target, opts=after_service)
            for r in net.reservations]
        records = [
            DnsmasqRecord(f"{name}-record-{rec.name}", name=dnsmasq.fqdn(rec.name, net.domain),
                          address=str(rec.address), target=target, opts=after_service)
            for rec in net.records]

        self.host = pulumi.Output.from_input(host_name)
        self.dns_address = pulumi.Output.from_input(str(listen.address))
        self.domain = pulumi.Output.from_input(net.domain)
        self.config_path = conf.path
        self.config = pulumi.Output.from_input(text)
        self.reservations = pulumi.Output.all(*[r.path for r in reservations])
        self.records = pulumi.Output.all(*[r.path for r in records])
        # For later layers: where to add reservations/records (DnsmasqReservation/DnsmasqRecord
        # with target=server.target), and the DNS server instances should use.
        self.server = DhcpServer(target=target, resource=service, lease_hook=lease_hook,
                                 dns_address=str(listen.address), domain=net.domain)
        self.register_outputs({"host": self.host, "dns_address": self.dns_address,
                               "domain": self.domain, "config_path": self.config_path,
                               "reservations": self.reservations, "records": self.records})
