import pulumi

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.host import HostAccess, HostFile, HostService  # noqa: E402
from components.service_manager import Daemon  # noqa: E402
from stacks.spec import Host  # noqa: E402

REAL = Host(name="gw", address="10.0.0.1", roles=["gateway"], ssh_user="admin")


@pulumi.runtime.test
def test_file_is_written_at_its_path_on_the_host():
    f = HostFile("conf", HostAccess(REAL, "KEY"), "/etc/dnsmasq.conf", "port=53\n", mode="0600")

    def check(path):
        assert path == "/etc/dnsmasq.conf"
        assert MOCKS.named("conf-write").typ == "pulumi-python:dynamic/host:RemoteFile"
        cmd = MOCKS.inputs("conf-write")
        assert cmd["content"] == "port=53\n"
        assert cmd["mode"] == "0600" and cmd["path"] == path
        conn = cmd["connection"]
        assert (conn["host"], conn["user"], conn["private_key"]) == ("10.0.0.1", "admin", "KEY")
    return f.path.apply(check)


@pulumi.runtime.test
def test_service_is_a_systemd_unit_that_tracks_its_config():
    daemon = Daemon("serf", ["serf", "agent", "-config-file", "/etc/serf.json"])
    real = HostService("real-serf", HostAccess(REAL, "KEY"), daemon, config=["{}"])
    other = HostService("real-serf-2", HostAccess(REAL, "KEY"), daemon, config=["{\"x\": 1}"])

    def check(_):
        cmd = MOCKS.inputs("real-serf-run")
        assert "systemctl enable mammatus-serf && systemctl restart mammatus-serf" in cmd["create"]
        assert cmd["connection"]["user"] == "admin"
        # Another config text is another unit text: the update restarts the daemon.
        assert MOCKS.inputs("real-serf-2-run")["update"] != cmd["update"]
    return pulumi.Output.all(real.unit, other.unit, real.urn, other.urn).apply(check)


@pulumi.runtime.test
def test_a_daemon_restarts_when_a_file_it_reads_changes_even_a_secret_one():
    access = HostAccess(REAL, "KEY")
    daemon = Daemon("sqs", ["python3", "-m", "services.sqs"])

    def service(name, secret_key):
        creds = HostFile(f"{name}-creds", access, "/etc/mammatus/sqs/credentials",
                         pulumi.Output.secret(f"[default]\nsecret = {secret_key}\n"), mode="0600")
        return HostService(name, access, daemon, config=["--listen x"], depends_on=[creds])
    before, rotated, same = service("sqs-a", "s1"), service("sqs-b", "s2"), service("sqs-c", "s1")

    def check(_):
        a, b, c = (MOCKS.inputs(f"sqs-{n}-run")["update"] for n in "abc")
        assert a != b and a == c        # a rotated key restarts the daemon; the same one does not
        assert "s1" not in a            # and the unit text holds only its digest
    return pulumi.Output.all(before.unit, rotated.unit, same.unit).apply(check)


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
