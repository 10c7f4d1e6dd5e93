import pulumi

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()
pulumi.runtime.set_mocks(MOCKS, project="mammatus", stack="dev", preview=False)

from components.host import HostAccess, HostFile, HostService  # noqa: E402
from components.service_manager import Daemon  # noqa: E402
from stacks.spec import Host  # noqa: E402

REAL = Host(name="gw", address="10.0.0.1", roles=["gateway"], ssh_user="admin")
DEV = Host(name="gw", address="10.0.0.1", roles=["gateway"], service_manager="direct",
           file_root="/var/lib/mammatus/dev/hosts/gw")


@pulumi.runtime.test
def test_file_is_written_through_the_hosts_file_root():
    f = HostFile("dev-conf", HostAccess(DEV, "KEY"), "/etc/dnsmasq.conf", "port=53\n", mode="0600")

    def check(path):
        assert path == "/var/lib/mammatus/dev/hosts/gw/etc/dnsmasq.conf"
        assert MOCKS.named("dev-conf-write").typ == "pulumi-python:dynamic/host:RemoteFile"
        cmd = MOCKS.inputs("dev-conf-write")
        assert cmd["content"] == "port=53\n"
        assert cmd["mode"] == "0600" and cmd["path"] == path
        conn = cmd["connection"]
        assert (conn["host"], conn["user"], conn["private_key"]) == ("10.0.0.1", "root", "KEY")
    return f.path.apply(check)


@pulumi.runtime.test
def test_service_uses_the_hosts_service_manager_and_tracks_its_config():
    daemon = Daemon("serf", ["serf", "agent", "-config-file", "/etc/serf.json"])
    real = HostService("real-serf", HostAccess(REAL, "KEY"), daemon, config=["{}"])
    dev = HostService("dev-serf", HostAccess(DEV, "KEY"), daemon, config=["{}"])

    def check(_):
        real_cmd = MOCKS.inputs("real-serf-run")
        dev_cmd = MOCKS.inputs("dev-serf-run")
        assert "systemctl enable --now mammatus-serf" in real_cmd["create"]
        assert real_cmd["connection"]["user"] == "admin"
        assert "/var/lib/mammatus/dev/hosts/gw/run/mammatus/mammatus-serf.pid" in dev_cmd["create"]
        assert "systemctl" not in dev_cmd["create"]
    return pulumi.Output.all(real.unit, dev.unit, real.urn, dev.urn).apply(check)


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlvdGVzdGtleQ"


@pulumi.runtime.test
def test_a_known_host_key_goes_with_every_connection():
    from components.context import CloudContext
    from stacks.spec import StackSpec
    pinned = Host(name="gw", address="10.0.0.1", roles=["gateway"], host_key=HOST_KEY)
    spec = StackSpec(run_dir="/var/lib/mammatus/t", hosts=[pinned])
    access = CloudContext(spec, "KEY", "PUB").access("gw")
    assert access.connection_dict()["host_key"] == HOST_KEY
    f = HostFile("pinned-conf", access, "/etc/x", "x\n")
    s = HostService("pinned-svc", access, Daemon("x", ["x"]))
    # without a key: none is sent, any is accepted (as plain pulumi-command does)
    assert "host_key" not in HostAccess(REAL, "KEY").connection_dict()

    def check(_):
        assert MOCKS.inputs("pinned-conf-write")["connection"]["host_key"] == HOST_KEY
        assert MOCKS.inputs("pinned-svc-run")["connection"]["hostKey"] == HOST_KEY
    return pulumi.Output.all(f.path, s.unit).apply(check)


def test_a_malformed_host_key_is_refused_by_the_spec():
    import pydantic
    import pytest
    with pytest.raises(pydantic.ValidationError, match="host_key|hostKey"):
        Host(name="gw", address="10.0.0.1", roles=["gateway"], host_key="AAAA-not-a-key")
