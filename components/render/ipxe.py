"""The iPXE script PXE clients chain to (dnsmasq hands it to iPXE, user class "iPXE"): for each
machine of `mammatus:network.pxe.machines`, by the MAC iPXE booted from, Debian 12's installer
(netboot: debian-installer-12-netboot-amd64) with that machine's preseed URL. The installer is
amd64's, arm64's when iPXE itself runs on arm64 (${buildarch}: an ARM64 iPXE of the user's own;
ARM64 UEFI firmware gets Debian's arm64 shim and GRUB from dnsmasq instead, as bookworm ships no
iPXE for arm64).

Every path in the script is relative, so iPXE fetches the kernel and initrd from wherever it
fetched the script: the DHCP host's TFTP root, where components/dhcp_dns_tftp.py puts all three.

A MAC that is not in the spec is told so on its console and the script exits: the firmware
goes on to its next boot device. Nothing is installed on a machine nobody named (a preseeded
installer may well partition its disks), and a machine that boots from disk after the network
is not held up.

Pure functions. No tool checks iPXE syntax offline; the integration test boots the script in
a real iPXE (QEMU's, and Debian's over TFTP) up to the installer's kernel.
"""

from __future__ import annotations

from typing import Optional

from components.naming import fqdn
from stacks.spec import Network, PxeMachine

# Mammatus' script, in the TFTP root.
SCRIPT = "mammatus.ipxe"
# Debian 12's netboot installer as the package lays it out, and where the TFTP root has it.
NETBOOT_SOURCE = "/usr/lib/debian-installer/images/12/{arch}/text/debian-installer/{arch}"
INSTALLER_DIR = "debian-installer/{arch}"
# iPXE's ${buildarch} -> the installer it boots (BIOS iPXE is i386 on any x86 machine).
ARCH_LINE = "iseq ${buildarch} arm64 && set installer arm64 || set installer amd64"


def label(mac: str) -> str:
    """The script's label for a MAC: iPXE's ${netX/mac:hexhyp} form (52-54-00-12-34-56)."""
    return "mac-" + mac.replace(":", "-")


def kernel_args(machine: PxeMachine, domain: str) -> str:
    """The installer's command line. `initrd=` names the initrd for a UEFI kernel (iPXE hands
    it over as that file); with a preseed, the installer runs unattended (auto, critical
    questions only) once it has fetched it."""
    args = ["initrd=initrd.gz"]
    if machine.preseed:
        args += ["auto=true", "priority=critical", f"url={machine.preseed}"]
    args += [f"hostname={machine.name}", f"domain={domain}"]
    if machine.kernel_args:
        args.append(machine.kernel_args)
    return " ".join(args)


def machine_section(machine: PxeMachine, domain: str) -> list[str]:
    installer = INSTALLER_DIR.format(arch="${installer}")
    return [
        f":{label(machine.mac)}",
        f"echo Mammatus: {fqdn(machine.name, domain)} ({machine.mac}) boots Debian 12's "
        "installer for ${installer}",
        f"kernel {installer}/linux {kernel_args(machine, domain)} || goto failed",
        f"initrd {installer}/initrd.gz || goto failed",
        "boot || goto failed",
        "",
    ]


def render(net: Network, machines: Optional[list[PxeMachine]] = None) -> str:
    """The script (machines: net.pxe.machines unless given)."""
    machines = net.pxe.machines if machines is None else machines
    lines = [
        "#!ipxe",
        f"# Mammatus: network installs for {net.domain} (generated; do not edit)",
        "# A machine of mammatus:network.pxe.machines by the MAC iPXE booted from; any other exits.",
        ARCH_LINE,
        "goto mac-${netX/mac:hexhyp} || goto unknown",
        "",
    ]
    for machine in machines:
        lines += machine_section(machine, net.domain)
    lines += [
        ":unknown",
        "echo Mammatus: ${netX/mac} is not in mammatus:network.pxe.machines, nothing to install",
        "exit",
        "",
        ":failed",
        "echo Mammatus: the installer did not load, back to the firmware",
        "exit 1",
    ]
    return "\n".join(lines) + "\n"
