from tools.diagram.architecture import load, services_on, to_dot


def test_home_picture_shows_every_host_instance_and_placed_service():
    spec = load("home")
    dot = to_dot("home", spec)
    for host in spec.hosts:
        assert f'"{host.name}" [label="{host.name} ({host.address}' in dot
    for inst in spec.instances:
        assert f'"instance:{inst.name}"' in dot
    assert "metadata 169.254.169.254" in services_on(spec, "control")
    assert "dnsmasq DHCP/DNS/TFTP" in services_on(spec, "gateway")
    assert 'wan -> "gateway" [label="eth0"' in dot
