import pytest

from components.dhcp_dns_tftp import DhcpDnsTftp
from stacks.spec import DnsRecord
from tests.support.netlab import context, plain, registered, stack_spec

RESERVATION = "pulumi-python:dynamic/mammatus:DnsmasqReservation"
RECORD = "pulumi-python:dynamic/mammatus:DnsmasqRecord"


def home_spec():
    spec = stack_spec("home")
    return spec.model_copy(update={"network": spec.network.model_copy(update={
        "records": [DnsRecord(name="files", address="10.0.0.30")]})})


@pytest.fixture(scope="module")
def home():
    ctx = context(home_spec())
    mocks, component = registered(lambda: DhcpDnsTftp("dns", ctx))
    return mocks, component, ctx


def test_dnsmasq_conf_has_range_pxe_and_upstream(home):
    mocks, _, _ = home
    conf = mocks.named("dns-config-write").inputs["content"].splitlines()
    assert "dhcp-range=set:lan,10.0.0.100,10.0.0.250,255.255.255.0,12h" in conf
    assert "dhcp-option=tag:lan,option:router,10.0.0.1" in conf
    assert "server=1.1.1.1" in conf
    assert "dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe,,10.0.0.1" in conf
    assert "dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,10.0.0.1" in conf
    assert {"enable-tftp", "tftp-root=/srv/tftp", "tftp-secure"} <= set(conf)
    assert "host-record=gateway.mammatus,10.0.0.1" in conf
    # Reservations are provider resources, not lines here.
    assert not any(line.startswith("dhcp-host=") for line in conf)
    assert "/etc/mammatus/dnsmasq/dnsmasq.conf" in mocks.named("dns-config-write").inputs["path"]


def test_checked_by_dnsmasq_then_run_by_the_service_manager(home):
    mocks, _, _ = home
    assert "dnsmasq --test -C /etc/mammatus/dnsmasq/dnsmasq.conf" in mocks.named("dns-check").inputs["create"]
    run = mocks.named("dns-dnsmasq-run").inputs["create"]
    assert "mammatus-dnsmasq" in run and "--keep-in-foreground" in run
    assert "--conf-file=/etc/mammatus/dnsmasq/dnsmasq.conf" in run
    dirs = mocks.named("dns-dirs").inputs["create"]
    for d in ("/etc/mammatus/dnsmasq/dhcp-hosts", "/etc/mammatus/dnsmasq/hosts", "/srv/tftp"):
        assert d in dirs


def test_each_reservation_and_record_is_a_provider_resource(home):
    mocks, _, _ = home
    reservations = {r.name for r in mocks.of_type(RESERVATION) if r.name.startswith("dns-reservation-")}
    assert len(reservations) == 6
    control = mocks.named("dns-reservation-control").inputs
    assert (control["mac"], control["address"], control["hostname"]) == (
        "dc:a6:32:00:00:02", "10.0.0.2", "control")
    assert control["dhcp_hosts_dir"] == "/etc/mammatus/dnsmasq/dhcp-hosts"
    assert control["pid_file"] == "/run/mammatus/dnsmasq.pid"
    connection = plain(control["connection"])
    assert connection["host"] == "10.0.0.1" and connection["private_key"] == "PRIVATE-KEY"
    assert mocks.named("dns-record-files").typ == RECORD
    record = mocks.named("dns-record-files").inputs
    assert (record["name"], record["address"]) == ("files.mammatus", "10.0.0.30")


def test_later_layers_get_the_dns_server_and_the_provider_target(home):
    _, component, _ = home
    server = component.server
    assert (server.dns_address, server.domain) == ("10.0.0.1", "mammatus")
    assert server.lease_file == "/var/lib/mammatus/dnsmasq/dnsmasq.leases"
    target = server.target
    assert target["hosts_dir"] == "/etc/mammatus/dnsmasq/hosts"
    assert target["lease_file"] == "/var/lib/mammatus/dnsmasq/dnsmasq.leases"


def test_dns_placed_off_the_gateway_runs_there():
    spec = home_spec()
    spec = spec.model_copy(update={"placement": spec.placement.model_copy(update={"dns": "control"})})
    mocks, _ = registered(lambda: DhcpDnsTftp("ctl-dns", context(spec)))
    assert plain(mocks.named("ctl-dns-config-write").inputs["connection"])["host"] == "10.0.0.2"
    assert "listen-address=10.0.0.2" in mocks.named("ctl-dns-config-write").inputs["content"]


def test_without_machines_to_install_only_ipxe_fills_the_tftp_root():
    from components.dhcp_dns_tftp import pxe_boot_files_command

    cmd = pxe_boot_files_command("/srv/tftp", {"ipxe": "1.0"}, installers=False)
    assert "install -m 0444 /usr/lib/ipxe/undionly.kpxe /srv/tftp/undionly.kpxe" in cmd
    assert "debian-installer" not in cmd and "bootnet" not in cmd


def test_pxe_boot_files_come_from_debians_packages_read_only():
    from components.dhcp_dns_tftp import pxe_boot_files_command

    cmd = pxe_boot_files_command("/srv/tftp/", {"ipxe": "1.0", "debian-installer-12-netboot-amd64": "2"})
    lines = cmd.splitlines()
    # The pins are part of the command: a new pin copies again.
    assert lines[0] == "# debian-installer-12-netboot-amd64=2 ipxe=1.0" and lines[1] == "set -e"
    for name in ("undionly.kpxe", "ipxe.efi", "snponly.efi"):
        assert f"install -m 0444 /usr/lib/ipxe/{name} /srv/tftp/{name}" in lines
    for arch in ("amd64", "arm64"):
        source = f"/usr/lib/debian-installer/images/12/{arch}/text/debian-installer/{arch}"
        assert (f"cp -RL {source} /srv/tftp/debian-installer/{arch}.new && "
                f"chmod -R a-w,a+rX /srv/tftp/debian-installer/{arch}.new") in lines
        assert (f"rm -rf /srv/tftp/debian-installer/{arch} && "
                f"mv /srv/tftp/debian-installer/{arch}.new /srv/tftp/debian-installer/{arch}") in lines
    # The signed shims and GRUBs at the top too: a shim fetches GRUB from the TFTP root.
    for arch, efi in (("amd64", "x64"), ("arm64", "aa64")):
        source = f"/usr/lib/debian-installer/images/12/{arch}/text/debian-installer/{arch}"
        for name in (f"bootnet{efi}.efi", f"grub{efi}.efi"):
            assert f"install -m 0444 {source}/{name} /srv/tftp/{name}" in lines


def test_the_ipxe_script_goes_into_the_tftp_root_and_the_pins_into_the_copy(home):
    from components.delivery import dist_dir
    from components.render import ipxe
    from stacks.artifacts import PXE_PACKAGES
    from tools.dist import debs

    mocks, _, ctx = home
    script = mocks.named("dns-ipxe-script-write").inputs
    assert script["path"] == "/srv/tftp/mammatus.ipxe" and script["mode"] == "0444"
    assert script["content"] == ipxe.render(ctx.spec.network)
    pins = debs.versions(dist_dir(), "linux-amd64", list(PXE_PACKAGES))
    copy = mocks.named("dns-boot-files").inputs["create"]
    assert all(f"{name}={version}" in copy.splitlines()[0] for name, version in pins.items())


def test_a_script_of_the_users_own_means_none_of_mammatus():
    spec = home_spec()
    net = spec.network.model_copy(update={"pxe": spec.network.pxe.model_copy(
        update={"ipxe_script": "http://10.0.0.2/boot.ipxe"})})
    mocks, _ = registered(lambda: DhcpDnsTftp("own", context(spec.model_copy(update={"network": net}))))
    assert not [r for r in mocks.resources if r.name.startswith("own-ipxe-script")]
    assert mocks.named("own-boot-files")
