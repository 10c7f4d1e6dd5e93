"""For the PXE tests: diskless QEMU VMs that boot from the network on a bridge the test owns
(its NIC a tap port of that bridge, its serial console a file), and a DHCP client that says
which firmware it is (option 93) and fetches the boot file it is offered over TFTP.

QEMU runs with KVM where KVM runs firmware at speed (`kvm_works`), with TCG otherwise; each VM
is stopped by its PID."""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Callable

from tests.support.daemons import start, stop
from tests.support.netlab import netns, run, veth

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")      # ARM64 UEFI (qemu-efi-aarch64)
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")


def kvm_works() -> bool:
    """Whether KVM runs firmware at speed: SeaBIOS with no devices says "No bootable device"
    within 3 s (TCG takes half a second). A nested KVM that emulates real mode (this machine's:
    9 s) stalls iPXE at its first prompt and fails OVMF with an internal error."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    argv = ["qemu-system-x86_64", *accel("kvm"), "-m", "64", "-nodefaults", "-nographic",
            "-monitor", "none", "-serial", "stdio", "-no-reboot", "-machine", "pc"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        seen, deadline = b"", time.monotonic() + 3
        while time.monotonic() < deadline and proc.poll() is None:
            seen += proc.stdout.read() or b""
            if b"No bootable device" in seen:
                return True
            time.sleep(0.1)
        return False
    finally:
        proc.kill()
        proc.wait()


def accel(name: str) -> list[str]:
    # KVM: the host's CPU without IA32_ARCH_CAPABILITIES, which this machine's KVM refuses to
    # set (QEMU aborts with "failed to set MSR 0x10a"); nothing here needs it.
    return (["-accel", "kvm", "-cpu", "host,-arch-capabilities"] if name == "kvm"
            else ["-accel", "tcg", "-cpu", "max"])


@functools.cache
def accelerator() -> str:
    """kvm or tcg: MAMMATUS_QEMU_ACCEL, else TCG. KVM only when asked: on this machine's
    nested KVM a quick SeaBIOS (kvm_works) still left iPXE hanging at its first prompt once
    the machine was busy, so the probe cannot be trusted to choose."""
    return os.environ.get("MAMMATUS_QEMU_ACCEL") or "tcg"


class Vm:
    """A diskless VM on a new tap port of `bridge` in namespace `ns`, booting from its NIC.
    firmware "bios": SeaBIOS runs the NIC's option ROM, QEMU's own build of iPXE. "uefi": OVMF
    with no option ROM on the NIC, so the firmware's own PXE client boots (client-arch 7).
    "arm64": an ARM64 UEFI machine (QEMU's virt board, AAVMF, its own PXE client: client-arch
    11), always TCG."""

    def __init__(self, ns: str, bridge: str, workdir: Path, name: str, mac: str,
                 firmware: str = "bios", memory_mb: int = 1024):
        self.ns, self.console = ns, Path(workdir) / f"{name}.console"
        self.tap = f"tap-{name[:11]}"
        run("ip", "tuntap", "add", "dev", self.tap, "mode", "tap", netns=ns)
        run("ip", "link", "set", self.tap, "master", bridge, "up", netns=ns)
        common = ["-m", str(memory_mb), "-smp", "1", "-nodefaults",
                  # -nographic: SeaBIOS (and the iPXE it runs) print on the serial console too.
                  "-no-reboot", "-nographic", "-monitor", "none", "-serial", f"file:{self.console}",
                  "-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no"]
        nic = f"virtio-net-pci,netdev=n0,mac={mac},bootindex=1"
        if firmware == "bios":
            argv = ["qemu-system-x86_64", *accel(accelerator()), *common, "-machine", "pc",
                    "-device", nic]
        else:
            code, variables = {"uefi": (OVMF_CODE, OVMF_VARS), "arm64": (AAVMF_CODE, AAVMF_VARS)}[firmware]
            vars_copy = Path(workdir) / f"{name}.vars.fd"
            shutil.copyfile(variables, vars_copy)
            machine = (["qemu-system-x86_64", *accel(accelerator()), "-machine", "q35"]
                       if firmware == "uefi" else
                       ["qemu-system-aarch64", "-accel", "tcg", "-cpu", "max", "-machine", "virt"])
            argv = [*machine, *common,
                    "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
                    "-device", f"{nic},romfile="]
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
