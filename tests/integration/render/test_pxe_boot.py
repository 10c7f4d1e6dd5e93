"""PXE that boots, on this machine: the real dnsmasq with the rendered config (DHCP + TFTP),
a TFTP root filled by the DHCP layer's own command from the real Debian packages (ipxe,
debian-installer-12-netboot-amd64 and -arm64, tools/setup/pxe.sh) plus the rendered iPXE
script, and an HTTP server holding each machine's preseed, all on a bridge in a network
namespace the test makes. Diskless QEMU VMs, their NIC on a tap on that bridge, boot from the
network and are watched on their serial console:

- BIOS (SeaBIOS with QEMU's own iPXE ROM, which is iPXE already): lease, the script over TFTP,
  the installer's kernel and initrd, the kernel runs, the installer fetches this machine's
  preseed and runs its early command.
- UEFI (OVMF's own PXE client: the NIC has no option ROM): lease, Debian's ipxe.efi over TFTP,
  then as above up to the kernel.
- An unknown MAC: the script says so and exits.
- ARM64 UEFI (QEMU's virt board with AAVMF, whose PXE client says option 93 = 11): offered
  Debian's signed arm64 shim, which fetches its GRUB from the TFTP root, which shows the arm64
  installer's menu. A DHCP client saying it is ARM64 UEFI is offered that file, an ARM64 PE.
- The x86-64 shim the same way (what x86-64 UEFI with Secure Boot would be offered).

KVM where it runs firmware at speed, TCG otherwise (tests/support/pxe.py; on this machine's
nested KVM, real mode is emulated and iPXE stalls, so TCG: the kernel about 35 s after power-on
for BIOS, 46 s for UEFI). Every wait is bounded; each VM is killed by its PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.dhcp_dns_tftp import pxe_boot_files_command
from components.render import dnsmasq, ipxe
from stacks.spec import StackSpec
from tests.support.daemons import start, stop, wait_for
from tests.support.netlab import netns, run
from tests.support.pxe import AAVMF_CODE, OVMF_CODE, Vm, accelerator, offered_boot_file, pe_machine

NETBOOT = Path(ipxe.NETBOOT_SOURCE.format(arch="amd64"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, tap devices)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("ip", "dnsmasq", "udhcpc", "busybox",
                                                          "qemu-system-x86_64"))
                       or not NETBOOT.is_dir() or not Path("/usr/lib/ipxe/ipxe.efi").exists()
                       or not OVMF_CODE.exists(),
                       reason="needs the PXE packages (tools/setup/pxe.sh)"),
]

SERVER = "10.78.0.1"
BIOS_MAC, UEFI_MAC, STRANGER_MAC = "52:54:00:78:00:01", "52:54:00:78:00:02", "52:54:00:78:00:99"
CLIENT_MAC, ARM64_MAC = "52:54:00:78:00:0b", "52:54:00:78:00:0a"
PRESEED_PORT = 8080
BOOT_TIMEOUT = 180          # s, per VM: from power-on to what the test waits for
CONSOLE = "console=ttyS0,115200n8"
PRESEED = """# The test's preseed for {name}: proof on the serial console that the installer fetched
# and ran it.
d-i preseed/early_command string echo "mammatus preseed ran for {name}" > /dev/ttyS0
"""


def spec() -> StackSpec:
    machines = [{"mac": mac, "name": name, "kernelArgs": CONSOLE,
                 "preseed": f"http://{SERVER}:{PRESEED_PORT}/preseed/{name}.cfg"}
                for mac, name in ((BIOS_MAC, "bios-1"), (UEFI_MAC, "uefi-1"))]
    return StackSpec.model_validate({
        "runDir": "/var/lib/mammatus/test",
        "hosts": [{"name": "gw", "address": SERVER, "roles": ["gateway"]}],
        "gateway": {"host": "gw", "wanInterface": "wan0", "lanInterface": "lan0",
                    "lanAddress": SERVER},
        "network": {"domain": "pxe.test", "lanSubnet": "10.78.0.0/24",
                    "dhcpRange": {"start": "10.78.0.100", "end": "10.78.0.150", "leaseTime": "1h"},
                    "upstreamDns": ["192.0.2.53"],
                    "pxe": {"enabled": True, "tftpRoot": "/srv/tftp", "machines": machines}},
    })


@contextlib.contextmanager
def served(tmp: Path, the_spec: StackSpec):
    """dnsmasq, its TFTP root and the preseed server on bridge lan0 in a new namespace."""
    paths = dnsmasq.DnsmasqPaths(tftp_root="/srv/tftp").under(lambda p: str(tmp) + p)
    for d in dnsmasq.directories(the_spec, paths):
        os.makedirs(d, exist_ok=True)
    # The TFTP root exactly as the DHCP layer fills it on the gateway, and its script.
    fill = subprocess.run(["bash", "-c", pxe_boot_files_command(paths.tftp_root)],
                          capture_output=True, text=True)
    assert fill.returncode == 0, fill.stderr
    Path(paths.tftp_root, ipxe.SCRIPT).write_text(ipxe.render(the_spec.network))
    Path(paths.config).write_text(dnsmasq.render(the_spec, paths))
    Path(paths.lease_hook).write_text(dnsmasq.lease_hook_script("lan0"))
    os.chmod(paths.lease_hook, 0o755)
    check = run("dnsmasq", "--test", "-C", paths.config, check=False)
    assert check.returncode == 0, check.stderr
    preseeds = tmp / "www" / "preseed"
    preseeds.mkdir(parents=True)
    for machine in the_spec.network.pxe.machines:
        (preseeds / f"{machine.name}.cfg").write_text(PRESEED.format(name=machine.name))
    with netns("pxe") as srv:
        run("ip", "link", "add", "lan0", "type", "bridge", netns=srv)
        run("ip", "addr", "add", f"{SERVER}/24", "dev", "lan0", netns=srv)
        run("ip", "link", "set", "lan0", "up", netns=srv)
        daemons = []
        try:
            log = str(tmp / "dnsmasq.log")
            daemons.append(start(["ip", "netns", "exec", srv, "dnsmasq", "--keep-in-foreground",
                                  "--log-dhcp", "-C", paths.config], log))
            wait_for(lambda: Path(paths.pid_file).read_text().strip(),
                     "dnsmasq writing its pid file", proc=daemons[0], log=log)
            http_log = str(tmp / "http.log")
            daemons.append(start(["ip", "netns", "exec", srv, "python3", "-m", "http.server",
                                  "--bind", SERVER, "--directory", str(tmp / "www"),
                                  str(PRESEED_PORT)], http_log))
            yield {"srv": srv, "tmp": tmp, "paths": paths, "log": Path(log),
                   "http_log": Path(http_log)}
        finally:
            for proc in reversed(daemons):
                stop(proc)


@pytest.fixture(scope="module")
def lan(tmp_path_factory):
    with served(tmp_path_factory.mktemp("pxe"), spec()) as served_lan:
        yield served_lan


@pytest.fixture
def vm(lan):
    made = []

    def make(name: str, mac: str, firmware: str = "bios") -> Vm:
        made.append(Vm(lan["srv"], "lan0", lan["tmp"], name, mac, firmware))
        return made[-1]
    yield make
    for v in made:
        v.close()


def sent(lan, path: str) -> bool:
    """dnsmasq logged a whole TFTP transfer of `path` (below the TFTP root)."""
    return f"sent {lan['paths'].tftp_root}/{path} to " in lan["log"].read_text()


def dnsmasq_log(lan):
    return lambda: lan["log"].read_text()[-3000:]


def report(what: str, seconds: float) -> None:
    print(f"\nPXE timing ({accelerator()}): {what}: {seconds:.1f} s")


INSTALLER = (ipxe.SCRIPT, "debian-installer/amd64/linux", "debian-installer/amd64/initrd.gz")


def test_a_bios_machine_boots_the_installer_and_runs_its_preseed(lan, vm):
    machine = vm("bios", BIOS_MAC)
    kernel = machine.wait_for("Linux version", BOOT_TIMEOUT, dnsmasq_log(lan))
    line = machine.command_line()
    assert f"url=http://{SERVER}:{PRESEED_PORT}/preseed/bios-1.cfg" in line
    assert "hostname=bios-1" in line and "domain=pxe.test" in line and CONSOLE in line
    assert all(sent(lan, path) for path in INSTALLER), lan["log"].read_text()
    assert not sent(lan, "undionly.kpxe")      # QEMU's ROM is iPXE already: straight to the script
    preseed = machine.wait_for("mammatus preseed ran for bios-1", BOOT_TIMEOUT, dnsmasq_log(lan))
    assert "GET /preseed/bios-1.cfg" in lan["http_log"].read_text()
    report("BIOS, power-on to the installer's kernel", kernel)
    report("BIOS, power-on to the preseed's early command", preseed)


def test_a_uefi_machine_loads_ipxe_over_tftp_then_boots_the_installer(lan, vm):
    machine = vm("uefi", UEFI_MAC, firmware="uefi")
    kernel = machine.wait_for("Linux version", BOOT_TIMEOUT, dnsmasq_log(lan))
    assert sent(lan, "ipxe.efi")                 # the firmware's PXE client loaded Debian's iPXE
    assert all(sent(lan, path) for path in INSTALLER), lan["log"].read_text()
    assert f"url=http://{SERVER}:{PRESEED_PORT}/preseed/uefi-1.cfg" in machine.command_line()
    report("UEFI, power-on to the installer's kernel", kernel)


def test_an_unknown_mac_is_told_so_and_boots_nothing(lan, vm):
    machine = vm("stranger", STRANGER_MAC)
    seconds = machine.wait_for("is not in mammatus:network.pxe.machines", 60, dnsmasq_log(lan))
    assert STRANGER_MAC in machine.text()
    assert "Linux version" not in machine.text()
    report("unknown MAC, power-on to the script's refusal", seconds)


@pytest.mark.skipif(not shutil.which("qemu-system-aarch64") or not AAVMF_CODE.exists(),
                    reason="needs qemu-system-arm and qemu-efi-aarch64 (tools/setup/pxe.sh)")
def test_an_arm64_uefi_machine_boots_debians_arm64_shim_grub_and_installer_menu(lan, vm):
    machine = vm("arm64", ARM64_MAC, firmware="arm64")
    seconds = machine.wait_for("*Install", BOOT_TIMEOUT, dnsmasq_log(lan))
    assert "GNU GRUB" in machine.text() and "NBP filename is bootnetaa64.efi" in machine.text()
    assert "tags: lan, efiarm64, lan0" in lan["log"].read_text()      # told apart by option 93
    for path in ("bootnetaa64.efi", "grubaa64.efi", "debian-installer/arm64/grub/grub.cfg"):
        assert sent(lan, path), path
    report("ARM64 UEFI (always TCG), power-on to GRUB's installer menu", seconds)


@pytest.mark.parametrize("option, boot_file, machine", [
    ("0x5d:000b", "bootnetaa64.efi", "arm64"),   # 11: ARM64 UEFI
    ("0x5d:0007", "ipxe.efi", "x86-64"),                                # 7: x86-64 UEFI
])
def test_a_uefi_client_is_offered_a_loader_built_for_its_architecture(lan, tmp_path, option,
                                                                      boot_file, machine):
    offered, data = offered_boot_file(lan["srv"], "lan0", SERVER, tmp_path, CLIENT_MAC, [option])
    assert offered == boot_file
    assert pe_machine(data) == machine


def test_a_shim_offered_from_the_tftp_root_finds_its_grub_and_the_installer_menu(tmp_path):
    """The x86-64 shim (efiBootFile: bootnetx64.efi, for Secure Boot) finds its GRUB in the
    TFTP root and GRUB the amd64 installer's menu, as the ARM64 one does."""
    the_spec = spec()
    pxe = the_spec.network.pxe.model_copy(update={"efi_boot_file": "bootnetx64.efi"})
    the_spec = the_spec.model_copy(update={"network": the_spec.network.model_copy(update={"pxe": pxe})})
    with served(tmp_path, the_spec) as shim_lan:
        machine = Vm(shim_lan["srv"], "lan0", tmp_path, "shim", UEFI_MAC, firmware="uefi")
        try:
            seconds = machine.wait_for("*Install", BOOT_TIMEOUT, dnsmasq_log(shim_lan))
        finally:
            machine.close()
        assert "GNU GRUB" in machine.text()
        for path in ("bootnetx64.efi", "grubx64.efi", "debian-installer/amd64/grub/grub.cfg"):
            assert sent(shim_lan, path), path
    report("UEFI shim, power-on to GRUB's installer menu", seconds)
