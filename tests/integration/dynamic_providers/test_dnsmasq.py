"""A real dnsmasq with the rendered config, in a test namespace; a client namespace on a veth.

The provider classes are driven directly (create/read/update/delete) with the local transport;
the client gets its reservation from DHCP (busybox udhcpc) and resolves the records (dig).
"""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from components.render import dnsmasq as render
from dynamic_providers.dnsmasq import RecordProvider, ReservationProvider
from stacks.spec import StackSpec
from tests.support.netlab import gratuitous_arp, netns, run, veth

pytestmark = pytest.mark.integration

CLIENT_MAC = "52:54:00:aa:bb:01"
UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc event script: record what the server handed out and configure the address.
case "$1" in
  bound|renew)
    echo "ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain hostname=$hostname boot_file=$boot_file" > "$OUT"
    ip addr add "$ip/24" dev "$interface"
    ;;
esac
exit 0
"""


def spec_for_test() -> StackSpec:
    return StackSpec.model_validate({
        "runDir": "/var/lib/mammatus/test",
        "hosts": [{"name": "gw", "address": "10.77.0.1", "roles": ["gateway"]},
                  {"name": "node-1", "address": "10.77.0.11", "roles": ["compute"]}],
        "gateway": {"host": "gw", "wanInterface": "wan0", "lanInterface": "lan0",
                    "lanAddress": "10.77.0.1"},
        "network": {"domain": "lab.test", "lanSubnet": "10.77.0.0/24",
                    "dhcpRange": {"start": "10.77.0.100", "end": "10.77.0.150", "leaseTime": "1h"},
                    "upstreamDns": ["192.0.2.53"],
                    "pxe": {"enabled": True, "tftpRoot": "/srv/tftp",
                            "ipxeScript": "http://10.77.0.1/boot.ipxe"}},
        "placement": {"ca": "node-1"},
    })


@pytest.fixture
def lab(tmp_path):
    spec = spec_for_test()
    paths = render.DnsmasqPaths(tftp_root="/srv/tftp").under(lambda p: str(tmp_path) + p)
    for d in render.directories(spec, paths):
        os.makedirs(d, exist_ok=True)
    Path(paths.tftp_root, "undionly.kpxe").write_bytes(b"ipxe-bios-image")
    os.chmod(Path(paths.tftp_root, "undionly.kpxe"), 0o644)
    Path(paths.config).write_text(render.render(spec, paths, inline_resources=False))
    Path(paths.lease_hook).write_text(render.lease_hook_script(render.lease_interface(spec)))
    os.chmod(paths.lease_hook, 0o755)
    assert run("dnsmasq", "--test", "-C", paths.config, check=False).returncode == 0
    with netns("srv") as srv, netns("cli") as cli:
        veth(srv, "lan0", "10.77.0.1/24", cli, "eth0", "")
        run("ip", "link", "set", "eth0", "address", CLIENT_MAC, netns=cli)
        log = open(tmp_path / "dnsmasq.log", "w")
        daemon = subprocess.Popen(["ip", "netns", "exec", srv, "dnsmasq", "--keep-in-foreground",
                                   "-C", paths.config], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_pid_file(paths.pid_file, daemon)
            yield {"spec": spec, "paths": paths, "srv": srv, "cli": cli, "daemon": daemon,
                   "tmp": tmp_path, "log": tmp_path / "dnsmasq.log"}
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()
            log.close()


def _wait_for_pid_file(path: str, daemon: subprocess.Popen) -> None:
    # dnsmasq writes its pid file once its sockets are bound; bounded polling, no timing asserted.
    for _ in range(100):
        if os.path.exists(path) and Path(path).read_text().strip():
            return
        if daemon.poll() is not None:
            raise AssertionError(f"dnsmasq exited with {daemon.returncode}")
        subprocess.run(["sleep", "0.1"])
    raise AssertionError("dnsmasq wrote no pid file")


def dig(lab, name: str, server: str = "10.77.0.1") -> str:
    return run("dig", "+short", "+time=2", "+tries=2", f"@{server}", name, netns=lab["cli"]).stdout.strip()


def udhcpc(lab, *options: str) -> dict[str, str]:
    script = lab["tmp"] / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    out = lab["tmp"] / "udhcpc.out"
    extra = [arg for option in options for arg in ("-x", option)]
    result = run("env", f"OUT={out}", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2",
                 *extra, "-s", str(script), netns=lab["cli"], check=False)
    assert result.returncode == 0, result.stderr + lab["log"].read_text()
    return dict(kv.split("=", 1) for kv in out.read_text().split())


def props(lab, **extra):
    p = lab["paths"]
    return {"connection": None, "dhcp_hosts_dir": p.dhcp_hosts_dir, "hosts_dir": p.hosts_dir,
            "lease_file": p.lease_file, "pid_file": p.pid_file, **extra}


def test_the_pid_file_is_the_daemons_and_the_host_names_resolve(lab):
    assert int(Path(lab["paths"].pid_file).read_text()) > 1
    run("ip", "addr", "add", "10.77.0.200/24", "dev", "eth0", netns=lab["cli"])
    assert dig(lab, "gw.lab.test") == "10.77.0.1"
    assert dig(lab, "gateway.lab.test") == "10.77.0.1"
    assert dig(lab, "node-1.lab.test") == "10.77.0.11"


def test_a_reservation_is_handed_out_by_dhcp_and_read_back_with_its_lease(lab):
    provider = ReservationProvider()
    inputs, failures = provider.check({}, props(lab, mac=CLIENT_MAC.upper(), address="10.77.0.42",
                                                hostname="web-1")).__dict__.values()
    assert failures == [] and inputs["mac"] == CLIENT_MAC
    created = provider.create(inputs)
    assert created.id == os.path.join(lab["paths"].dhcp_hosts_dir, "mammatus-52-54-00-aa-bb-01")
    assert created.outs["lease"] is None

    got = udhcpc(lab)
    assert got["ip"] == "10.77.0.42"
    assert got["router"] == "10.77.0.1" and got["dns"] == "10.77.0.1"
    assert got["hostname"] == "web-1"

    read = provider.read(created.id, created.outs)
    assert read.id == created.id
    assert read.outs["lease"]["address"] == "10.77.0.42"
    assert read.outs["lease"]["mac"] == CLIENT_MAC
    assert read.inputs["address"] == "10.77.0.42" and "lease" not in read.inputs
    # The reserved name resolves once leased.
    assert dig(lab, "web-1.lab.test") == "10.77.0.42"

    # Drift: someone edits the file by hand; a refresh sees it.
    Path(created.id).write_text("52:54:00:aa:bb:01,10.77.0.43,web-1\n")
    assert provider.read(created.id, created.outs).outs["address"] == "10.77.0.43"

    provider.delete(created.id, created.outs)
    assert not os.path.exists(created.id)
    assert provider.read(created.id, created.outs).id is None


def test_a_named_only_reservation_names_a_client_from_the_range(lab):
    provider = ReservationProvider()
    # no address at all: the engine drops a None input before the provider sees it
    inputs = provider.check({}, props(lab, mac=CLIENT_MAC, hostname="named-1")).inputs
    created = provider.create(inputs)
    assert Path(created.id).read_text().splitlines()[-1] == f"{CLIENT_MAC},named-1"
    got = udhcpc(lab, "hostname:something-else")     # the client calls itself otherwise
    assert got["ip"] != "10.77.0.42" and got["hostname"] == "named-1"
    assert dig(lab, "named-1.lab.test") == got["ip"]
    assert provider.read(created.id, created.outs).outs["lease"]["address"] == got["ip"]


def test_a_client_calling_itself_ca_does_not_get_the_cas_name(lab):
    got = udhcpc(lab, "hostname:ca")
    assert dig(lab, "ca.lab.test") == "10.77.0.11"   # still the CA's host, not got["ip"]
    assert got["ip"] != "10.77.0.11"


def test_a_lease_pins_its_mac_on_the_dhcp_host_against_arp_spoofing(lab):
    got = udhcpc(lab)
    entry = run("ip", "neigh", "show", got["ip"], "dev", "lan0", netns=lab["srv"]).stdout
    assert CLIENT_MAC in entry and "PERMANENT" in entry
    # A device announcing the address from its own MAC is not believed.
    gratuitous_arp(lab["cli"], "eth0", got["ip"], "52:54:00:66:66:66")
    entry = run("ip", "neigh", "show", got["ip"], "dev", "lan0", netns=lab["srv"]).stdout
    assert CLIENT_MAC in entry and "66:66:66" not in entry


def test_records_resolve_after_sighup_and_follow_updates_and_deletes(lab):
    run("ip", "addr", "add", "10.77.0.200/24", "dev", "eth0", netns=lab["cli"])
    provider = RecordProvider()
    inputs = provider.check({}, props(lab, name="Files.lab.test", address="10.77.0.60")).inputs
    created = provider.create(inputs)
    assert dig(lab, "files.lab.test") == "10.77.0.60"

    updated = provider.update(created.id, created.outs, {**inputs, "address": "10.77.0.61"})
    assert updated.outs["address"] == "10.77.0.61"
    assert dig(lab, "files.lab.test") == "10.77.0.61"
    assert provider.read(created.id, created.outs).outs["address"] == "10.77.0.61"

    provider.delete(created.id, created.outs)
    assert dig(lab, "files.lab.test") == ""


def test_tftp_serves_the_boot_file_and_refuses_writes(lab):
    run("ip", "addr", "add", "10.77.0.200/24", "dev", "eth0", netns=lab["cli"])
    local = lab["tmp"] / "got.kpxe"
    got = run("busybox", "tftp", "-g", "-r", "undionly.kpxe", "-l", str(local), "10.77.0.1",
              netns=lab["cli"], check=False)
    assert got.returncode == 0, got.stderr
    assert local.read_bytes() == b"ipxe-bios-image"
    upload = lab["tmp"] / "evil"
    upload.write_text("x")
    put = run("busybox", "tftp", "-p", "-l", str(upload), "-r", "evil", "10.77.0.1",
              netns=lab["cli"], check=False)
    assert put.returncode != 0
    assert not Path(lab["paths"].tftp_root, "evil").exists()


@pytest.mark.parametrize("options, boot_file", [
    (["0x5d:0000"], "undionly.kpxe"),                    # option 93 client-arch 0: BIOS
    (["0x5d:0007"], "ipxe.efi"),                         # 7: EFI x86-64
    (["0x5d:0009"], "ipxe.efi"),                         # 9: EFI x86-64 (EFI BC)
    # 11: EFI arm64. Its loader comes with the arm64 installer, delivered only with machines
    # to install (tests/integration/render/test_pxe_boot.py boots one): here, nothing.
    (["0x5d:000b"], ""),
    (["0x5d:0007", "0x4d:69505845"], "http://10.77.0.1/boot.ipxe"),  # user class "iPXE": chain
    (["0x5d:000b", "0x4d:69505845"], "http://10.77.0.1/boot.ipxe"),
    ([], ""),                                            # not a PXE client: no boot file
])
def test_pxe_clients_get_the_boot_file_for_their_firmware(lab, options, boot_file):
    # Reserved, so dnsmasq offers at once (a dynamic address is pinged first for 3 s).
    ReservationProvider().create(props(lab, mac=CLIENT_MAC, address="10.77.0.44", hostname="pxe"))
    got = udhcpc(lab, *options)
    assert got["ip"] == "10.77.0.44"
    assert got["boot_file"] == boot_file
