"""For the PXE tests: diskless QEMU VMs that boot from the network on a bridge the test owns
(its NIC a tap port of that bridge, its serial console a file), and a DHCP client that says
which firmware it is (option 93) and fetches the boot file it is offered over TFTP.

QEMU runs with KVM when /dev/kvm opens, with TCG otherwise; each VM is stopped by its PID."""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path
from typing import Callable

from tests.support.daemons import start, stop
from tests.support.netlab import netns, run, veth

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


def kvm_works() -> bool:
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def accel(name: str) -> list[str]:
    # KVM: the host's CPU without IA32_ARCH_CAPABILITIES, which this machine's KVM refuses to
    # set (QEMU aborts with "failed to set MSR 0x10a"); nothing here needs it.
    return (["-accel", "kvm", "-cpu", "host,-arch-capabilities"] if name == "kvm"
            else ["-accel", "tcg", "-cpu", "max"])


# MAMMATUS_QEMU_ACCEL=kvm|tcg chooses; by default KVM where /dev/kvm opens.
ACCEL = accel(os.environ.get("MAMMATUS_QEMU_ACCEL") or ("kvm" if kvm_works() else "tcg"))


class Vm:
    """A diskless VM on a new tap port of `bridge` in namespace `ns`. BIOS: SeaBIOS runs the
    NIC's option ROM, QEMU's own build of iPXE. UEFI: OVMF with no option ROM on the NIC, so
    the firmware's own PXE client boots (and loads iPXE over TFTP)."""

    def __init__(self, ns: str, bridge: str, workdir: Path, name: str, mac: str,
                 uefi: bool = False, memory_mb: int = 1024):
        self.ns, self.console = ns, Path(workdir) / f"{name}.console"
        self.tap = f"tap-{name[:11]}"
        run("ip", "tuntap", "add", "dev", self.tap, "mode", "tap", netns=ns)
        run("ip", "link", "set", self.tap, "master", bridge, "up", netns=ns)
        argv = ["qemu-system-x86_64", *ACCEL, "-m", str(memory_mb), "-smp", "1", "-nodefaults",
                # -nographic: SeaBIOS (and the iPXE it runs) print on the serial console too.
                "-no-reboot", "-nographic", "-monitor", "none", "-serial", f"file:{self.console}",
                "-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no"]
        nic = f"virtio-net-pci,netdev=n0,mac={mac},bootindex=1"
        if uefi:
            vars_copy = Path(workdir) / f"{name}.vars.fd"
            shutil.copyfile(OVMF_VARS, vars_copy)
            argv += ["-machine", "q35",
                     "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                     "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
                     "-device", f"{nic},romfile="]
        else:
            argv += ["-machine", "pc", "-device", nic]
        self.started = time.monotonic()
        self.proc = start(["ip", "netns", "exec", ns, *argv], str(Path(workdir) / f"{name}.qemu.log"))

    def text(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def wait_for(self, marker: str, timeout: float, context: Callable[[], str] = lambda: "") -> float:
        """Seconds from power-on until `marker` is on the serial console; fails with the
        console's tail and `context()` (e.g. the DHCP server's log)."""
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if marker in self.text():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f"{marker!r} not on the console after {timeout:.0f} s (QEMU "
                             f"{'exited' if self.proc.poll() is not None else 'running'})\n"
                             f"--- console:\n{self.text()[-4000:]}\n--- context:\n{context()}")

    def command_line(self) -> str:
        """The kernel's command line, as it printed it."""
        return next((line for line in self.text().splitlines() if "Command line:" in line), "")

    def close(self) -> None:
        stop(self.proc)
        run("ip", "link", "del", self.tap, netns=self.ns, check=False)


PE_MACHINES = {0x8664: "x86-64", 0xAA64: "arm64", 0x14C: "i386"}


def pe_machine(data: bytes) -> str:
    """The machine a PE/COFF image (an EFI binary) is built for."""
    assert data[:2] == b"MZ", "not a PE image"
    offset = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[offset:offset + 4] == b"PE\0\0", "not a PE image"
    return PE_MACHINES.get(struct.unpack_from("<H", data, offset + 4)[0], "other")


UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in bound|renew) echo "$ip ${boot_file:--}" > "$OUT"; ip addr add "$ip/${mask:-24}" dev "$interface" ;; esac
exit 0
"""


def offered_boot_file(switch_ns: str, bridge: str, server: str, workdir: Path, mac: str,
                      options: list[str]) -> tuple[str, bytes]:
    """A client namespace on a veth port of `bridge` asks for a lease with these udhcpc `-x`
    options (e.g. 0x5d:000b, client-arch 11) and fetches the boot file it is offered from
    `server` over TFTP: (boot file, its bytes)."""
    workdir = Path(workdir)
    script, out, local = workdir / "udhcpc.sh", workdir / "lease", workdir / "boot-file"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    port = f"pc{mac.replace(':', '')[-8:]}"
    with netns("pxecli") as cli:
        veth(switch_ns, port, "", cli, "eth0", "")
        run("ip", "link", "set", port, "master", bridge, netns=switch_ns)
        run("ip", "link", "set", "eth0", "address", mac, netns=cli)
        extra = [arg for option in options for arg in ("-x", option)]
        got = run("env", f"OUT={out}", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5",
                  "-T", "3", *extra, "-s", str(script), netns=cli, check=False, timeout=60)
        assert got.returncode == 0, f"no lease: {got.stderr}"
        boot_file = out.read_text().split()[1]
        assert boot_file != "-", "no boot file offered"
        fetched = run("busybox", "tftp", "-g", "-r", boot_file, "-l", str(local), server,
                      netns=cli, check=False, timeout=60)
        assert fetched.returncode == 0, f"tftp {boot_file}: {fetched.stderr}"
    return boot_file, local.read_bytes()
