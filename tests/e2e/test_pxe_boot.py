"""PXE on the deployed dev stack's LAN: a diskless QEMU VM on the LAN bridge gets a lease from
the gateway's dnsmasq, iPXE loads the script the DHCP layer rendered into the gateway's TFTP
root, and the installer's kernel and initrd (from the debian-installer-12-netboot-amd64 the
Delivery layer installed there) boot, up to the installer fetching this machine's preseed; an
unknown MAC is refused; an ARM64 UEFI VM (option 93 = 11) boots Debian's arm64 shim and GRUB up
to the installer's menu, and a DHCP client saying it is one is offered that ARM64 loader.

Its own copy of the dev stack (prefix mp): tests/e2e/conftest.py gives each module a checkout
copy, not a deployed stack, so this module runs `up` itself, with one PXE machine added to
mammatus:network in its copy of Pulumi.dev.yaml (the preseed is served from a static address
the test adds to the LAN client's namespace), and destroys it at the end. Its LAN is the
lifecycle test's (203.0.113.0/24): the two modules must not run at the same time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.daemons import start, stop, wait_for
from tests.support.netlab import run
from tests.support.pxe import accelerator, Vm, offered_boot_file, pe_machine

# The first test's setup holds the whole `up` of the dev stack (the last one's teardown, destroy).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

PREFIX = "mp"
LAN = "203.0.113"
LAN_BRIDGE = "br0"                          # components/dev_box.py, in <prefix>-lan
PRESEED_SERVER = f"{LAN}.250"               # outside the DHCP range and the hosts
MACHINE_MAC, STRANGER_MAC, CLIENT_MAC = "52:54:00:e2:e0:01", "52:54:00:e2:e0:99", "52:54:00:e2:e0:0b"
ARM64_MAC = "52:54:00:e2:e0:0a"
CONSOLE = "console=ttyS0,115200n8"
BOOT_TIMEOUT = 240


def add_pxe_machine(project) -> None:
    """The copy's Pulumi.dev.yaml with one machine under mammatus:network.pxe."""
    file = project.path / "Pulumi.dev.yaml"
    doc = yaml.safe_load(file.read_text())
    doc["config"]["mammatus:network"]["pxe"] = {"machines": [{
        "mac": MACHINE_MAC, "name": "pxe-1", "kernelArgs": CONSOLE,
        "preseed": f"http://{PRESEED_SERVER}:8080/preseed/pxe-1.cfg"}]}
    file.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture(scope="module")
def cloud(project, tmp_path_factory):
    if run("ip", "link", "show", f"{PREFIX}-lan0", check=False).returncode == 0:
        pytest.fail(f"{PREFIX}-lan0 exists: an earlier run of this test left its cloud behind")
    if f" {LAN}.254/" in run("ip", "-o", "addr", "show", check=False).stdout:
        pytest.fail(f"{LAN}.254 is on this machine: another dev stack on this LAN is up")
    run_dir = Path("/var/lib/mammatus-e2e") / uuid.uuid4().hex[:8] / "dev"
    project.isolate_dev_stack(PREFIX, run_dir, LAN)
    add_pxe_machine(project)
    project.pulumi("stack", "init", "dev")
    try:
        project.pulumi("up", "--yes", "--skip-preview", "--stack", "dev", timeout=1800)
        yield project
    finally:
        project.pulumi("destroy", "--yes", "--stack", "dev", check=False, timeout=1800)
        shutil.rmtree(run_dir.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def preseed_server(cloud, tmp_path_factory):
    """The machine's preseed over HTTP from the LAN client's namespace (a static address)."""
    www = tmp_path_factory.mktemp("www")
    (www / "preseed").mkdir()
    (www / "preseed" / "pxe-1.cfg").write_text(
        'd-i preseed/early_command string echo "mammatus preseed ran for pxe-1" > /dev/ttyS0\n')
    client = f"{PREFIX}-client"
    run("ip", "addr", "add", f"{PRESEED_SERVER}/24", "dev", "eth0", netns=client)
    log = www / "http.log"
    server = start(["ip", "netns", "exec", client, sys.executable, "-m", "http.server",
                    "--bind", PRESEED_SERVER, "--directory", str(www), "8080"], str(log))
    wait_for(lambda: run("ip", "netns", "exec", client, "curl", "-sf", "-o", "/dev/null",
                         f"http://{PRESEED_SERVER}:8080/preseed/pxe-1.cfg", check=False).returncode == 0,
             "the preseed server answering", proc=server, log=str(log))
    yield log
    stop(server)
    run("ip", "addr", "del", f"{PRESEED_SERVER}/24", "dev", "eth0", netns=client, check=False)


@pytest.fixture
def vm(cloud, tmp_path):
    made = []

    def make(name: str, mac: str, firmware: str = "bios") -> Vm:
        made.append(Vm(f"{PREFIX}-lan", LAN_BRIDGE, tmp_path, name, mac, firmware))
        return made[-1]
    yield make
    for v in made:
        v.close()


def dnsmasq_journal(cloud) -> str:
    """The gateway's dnsmasq log (DHCP and each TFTP transfer), through the dev box's LXD."""
    lxd_dir = cloud.outputs()["box_lxd_dir"]
    got = subprocess.run(["lxc", "exec", f"{PREFIX}-gateway", "--", "journalctl", "-u",
                          "mammatus-dnsmasq", "--no-pager", "-n", "2000"],
                         env={**os.environ, "LXD_DIR": lxd_dir},
                         capture_output=True, text=True, timeout=30)
    return got.stdout


def test_a_diskless_vm_on_the_lan_boots_the_installer_with_its_preseed(cloud, preseed_server, vm):
    machine = vm("pxe-1", MACHINE_MAC)
    journal = lambda: dnsmasq_journal(cloud)[-3000:]   # noqa: E731
    kernel = machine.wait_for("Linux version", BOOT_TIMEOUT, journal)
    line = machine.command_line()
    assert f"url=http://{PRESEED_SERVER}:8080/preseed/pxe-1.cfg" in line
    assert "hostname=pxe-1" in line and "domain=dev.mammatus" in line
    log = dnsmasq_journal(cloud)
    for path in ("mammatus.ipxe", "debian-installer/amd64/linux", "debian-installer/amd64/initrd.gz"):
        assert f"sent /srv/tftp/{path} to " in log, path
    preseed = machine.wait_for("mammatus preseed ran for pxe-1", BOOT_TIMEOUT, journal)
    assert "GET /preseed/pxe-1.cfg" in preseed_server.read_text()
    print(f"\nPXE on the dev LAN ({accelerator()}): kernel after {kernel:.1f} s, preseed after {preseed:.1f} s")


def test_an_unknown_mac_on_the_lan_is_told_so(cloud, vm):
    machine = vm("stranger", STRANGER_MAC)
    machine.wait_for("is not in mammatus:network.pxe.machines", 90, lambda: dnsmasq_journal(cloud)[-3000:])
    assert "Linux version" not in machine.text()


def test_an_arm64_uefi_machine_on_the_lan_reaches_debians_arm64_installer_menu(cloud, vm):
    machine = vm("arm64", ARM64_MAC, firmware="arm64")
    machine.wait_for("*Install", BOOT_TIMEOUT, lambda: dnsmasq_journal(cloud)[-3000:])
    assert "NBP filename is bootnetaa64.efi" in machine.text()
    log = dnsmasq_journal(cloud)
    for path in ("bootnetaa64.efi", "grubaa64.efi", "debian-installer/arm64/grub/grub.cfg"):
        assert f"sent /srv/tftp/{path} to " in log, path


def test_an_arm64_uefi_client_on_the_lan_is_offered_an_arm64_loader(cloud, tmp_path):
    gateway = cloud.outputs()["gateway_lan_ip"]
    offered, data = offered_boot_file(f"{PREFIX}-lan", LAN_BRIDGE, gateway, tmp_path, CLIENT_MAC,
                                      ["0x5d:000b"])
    assert offered == "bootnetaa64.efi"
    assert pe_machine(data) == "arm64"
