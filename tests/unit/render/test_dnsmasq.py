import pytest

from components.render import dnsmasq
from stacks.spec import DnsRecord, StackSpec
from tests.support.netlab import stack_spec


def lines(spec, **kw):
    return dnsmasq.render(spec, **kw).splitlines()


def test_dhcp_range_router_dns_and_lease_time():
    text = lines(stack_spec("lab"))
    assert "dhcp-range=set:lan,10.10.0.100,10.10.0.199,255.255.255.0,12h" in text
    assert "dhcp-option=tag:lan,option:router,10.10.0.1" in text
    assert "dhcp-option=tag:lan,option:dns-server,10.10.0.1" in text
    assert "dhcp-leasefile=/var/lib/mammatus/dnsmasq/dnsmasq.leases" in text


def test_listens_on_the_gateways_lan_port_only():
    text = lines(stack_spec("lab"))
    assert "interface=enp2s0" in text and "bind-interfaces" in text
    assert not any(line.startswith("interface=enp1s0") for line in text)


def test_dns_on_another_host_listens_on_its_address():
    spec = stack_spec("home")
    spec = spec.model_copy(update={"placement": spec.placement.model_copy(update={"dns": "control"})})
    text = lines(spec)
    assert "listen-address=10.0.0.2" in text
    assert "dhcp-option=tag:lan,option:dns-server,10.0.0.2" in text
    assert "dhcp-option=tag:lan,option:router,10.0.0.1" in text


def test_local_domain_and_upstream_1111_without_resolv_conf():
    text = lines(stack_spec("home"))
    assert "local=/mammatus/" in text and "domain=mammatus,10.0.0.0/24" in text
    assert "server=1.1.1.1" in text and "no-resolv" in text


def test_consul_names_go_to_every_consul_server_dns():
    text = lines(stack_spec("home"))
    assert [line for line in text if "/consul/" in line] == [
        "server=/consul/10.0.0.2#8600", "server=/consul/10.0.0.11#8600",
        "server=/consul/10.0.0.12#8600"]
    spec = stack_spec("home")
    spec = spec.model_copy(update={"placement": spec.placement.model_copy(update={"consul": []})})
    assert not any("/consul/" in line for line in lines(spec))


def test_every_host_and_the_gateway_have_a_name():
    text = lines(stack_spec("lab"))
    for name, address in [("gw", "10.10.0.1"), ("node-1", "10.10.0.11"), ("node-2", "10.10.0.12"),
                          ("store-1", "10.10.0.21"), ("gateway", "10.10.0.1")]:
        assert f"host-record={name}.lab.mammatus,{address}" in text
    # home's gateway host is named "gateway": one record, not two.
    assert lines(stack_spec("home")).count("host-record=gateway.mammatus,10.0.0.1") == 1
    # The CA's own name too, so no DHCP client can take it (home places the CA on control).
    assert "host-record=ca.mammatus,10.0.0.2" in lines(stack_spec("home"))


def test_reservations_and_records_inline_or_left_to_the_provider():
    spec = stack_spec("lab")
    spec = spec.model_copy(update={"network": spec.network.model_copy(update={
        "records": [DnsRecord(name="files", address="10.10.0.30")]})})
    inline = lines(spec)
    assert "dhcp-host=52:54:00:00:00:11,10.10.0.11,node-1" in inline
    assert "host-record=files.lab.mammatus,10.10.0.30" in inline
    apart = lines(spec, inline_resources=False)
    assert not any(line.startswith("dhcp-host=") for line in apart)
    assert "host-record=files.lab.mammatus,10.10.0.30" not in apart
    assert "dhcp-hostsfile=/etc/mammatus/dnsmasq/dhcp-hosts" in apart
    assert "addn-hosts=/etc/mammatus/dnsmasq/hosts" in apart


def boot_lines(text: list[str]) -> list[str]:
    return [line for line in text if line.startswith("dhcp-boot=")]


def test_pxe_gives_each_firmware_its_own_loader_and_ipxe_mammatus_script():
    text = lines(stack_spec("home"))
    assert "dhcp-match=set:bios,option:client-arch,0" in text
    assert "dhcp-match=set:efi64,option:client-arch,7" in text
    assert "dhcp-match=set:efi64,option:client-arch,9" in text
    assert "dhcp-match=set:efiarm64,option:client-arch,11" in text
    assert "dhcp-userclass=set:ipxe,iPXE" in text
    assert boot_lines(text) == [
        "dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe,,10.0.0.1",
        "dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,10.0.0.1",
        # ARM64 UEFI gets an ARM64 loader, never the x86-64 iPXE.
        "dhcp-boot=tag:!ipxe,tag:efiarm64,bootnetaa64.efi,,10.0.0.1",
        # iPXE chains to Mammatus' script in the TFTP root, from this server.
        "dhcp-boot=tag:ipxe,mammatus.ipxe,,10.0.0.1",
    ]
    assert {"enable-tftp", "tftp-root=/srv/tftp", "tftp-secure"} <= set(text)


def test_without_machines_to_install_arm64_firmware_is_offered_nothing():
    spec = stack_spec("home")
    net = spec.network.model_copy(update={"pxe": spec.network.pxe.model_copy(
        update={"machines": []})})
    text = lines(spec.model_copy(update={"network": net}))
    assert not any("tag:efiarm64," in line for line in boot_lines(text))
    assert "dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe,,10.0.0.1" in text


def test_a_script_of_the_users_own_replaces_mammatus():
    spec = stack_spec("home")
    net = spec.network.model_copy(update={"pxe": spec.network.pxe.model_copy(
        update={"ipxe_script": "http://10.0.0.2/boot.ipxe", "efi_boot_file": "snponly.efi"})})
    text = lines(spec.model_copy(update={"network": net}))
    assert "dhcp-boot=tag:ipxe,http://10.0.0.2/boot.ipxe" in text
    assert "dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi,,10.0.0.1" in text
    assert not any("mammatus.ipxe" in line for line in text)


def test_pxe_disabled_means_no_tftp():
    spec = stack_spec("lab")
    net = spec.network.model_copy(update={"pxe": spec.network.pxe.model_copy(update={"enabled": False})})
    text = lines(spec.model_copy(update={"network": net}))
    assert "enable-tftp" not in text and not any(line.startswith("dhcp-boot") for line in text)


def test_no_network_no_dnsmasq():
    with pytest.raises(ValueError, match="mammatus:network"):
        dnsmasq.render(StackSpec(runDir="/tmp/x"))


def test_instances_get_a_route_to_the_metadata_service_off_the_router():
    # home: metadata on control, so option 121 leads there and repeats the default route
    home = stack_spec("home")
    control = str(home.host("control").address)
    route = [line for line in lines(home) if "classless-static-route" in line]
    assert route == [f"dhcp-option=tag:lan,option:classless-static-route,169.254.169.254/32,"
                     f"{control},0.0.0.0/0,{home.gateway.lan_address}"]
    # lab: metadata on the gateway itself, the default route already leads there
    assert not any("classless-static-route" in line for line in lines(stack_spec("lab")))
