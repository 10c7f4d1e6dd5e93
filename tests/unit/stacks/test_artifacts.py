from stacks.artifacts import ALL_BINARIES, binaries_for, binaries_of_platform, platform_of
from tests.support.netlab import stack_spec


def test_home_hosts_get_the_binaries_of_their_placements():
    spec = stack_spec("home")
    needs = {h.name: binaries_for(spec, h) for h in spec.hosts}
    assert needs["control"] == ["consul", "nats-server", "step-ca", "telegraf", "traefik"]
    assert needs["storage-1"] == ["minio", "telegraf"]       # objectStorage: storage-1
    assert needs["storage-2"] == ["telegraf"]
    assert needs["gateway"] == ["telegraf"]


def test_the_storage_boards_are_arm64():
    spec = stack_spec("home")
    assert platform_of(spec.host("storage-1")) == "linux-arm64"
    assert platform_of(spec.host("control")) == "linux-amd64"


def test_dev_delivers_what_its_placement_runs():
    spec = stack_spec("dev")
    assert binaries_for(spec, spec.host("control")) == ["consul", "kapacitord", "nats-server",
                                                        "step-ca", "telegraf", "traefik"]
    assert binaries_for(spec, spec.host("gateway")) == ["telegraf"]


def test_every_binary_is_one_tools_bootstrap_builds():
    assert ALL_BINARIES == ("consul", "kapacitord", "minio", "nats-server", "step-ca", "telegraf",
                            "traefik")
    assert "kapacitord" not in binaries_of_platform("linux-arm64")


def test_the_monitoring_host_runs_kapacitor_and_the_relay_when_alerts_have_a_topic():
    from stacks.artifacts import runs_services

    spec = stack_spec("dev")          # monitoring on control, alerts to the topic `alerts`
    control = spec.host("control")
    assert "kapacitord" in binaries_for(spec, control) and runs_services(spec, control)
    quiet = spec.model_copy(update={"monitoring": spec.monitoring.model_copy(
        update={"alert_topic": None})})
    assert "kapacitord" not in binaries_for(quiet, control)


def test_the_dns_host_gets_ipxe_and_both_netboot_installers_when_pxe_is_on():
    from stacks.artifacts import debian_packages_for

    spec = stack_spec("home")
    pxe = {"ipxe", "debian-installer-12-netboot-amd64", "debian-installer-12-netboot-arm64"}
    assert pxe <= set(debian_packages_for(spec, spec.host("gateway")))
    assert not pxe & set(debian_packages_for(spec, spec.host("control")))
    off = spec.model_copy(update={"network": spec.network.model_copy(update={
        "pxe": spec.network.pxe.model_copy(update={"enabled": False})})})
    assert not pxe & set(debian_packages_for(off, off.host("gateway")))
    # With no machine to install, the 260 MB of installers stay away: iPXE alone.
    none = spec.model_copy(update={"network": spec.network.model_copy(update={
        "pxe": spec.network.pxe.model_copy(update={"machines": []})})})
    assert pxe & set(debian_packages_for(none, none.host("gateway"))) == {"ipxe"}
