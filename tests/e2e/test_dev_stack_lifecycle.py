"""`pulumi up`, a second `up` with no changes, and `destroy` of the dev stack with the real CLI,
the project's language host, the provider plugins and Python dynamic providers."""

import shutil
import subprocess
import uuid
from pathlib import Path

import paramiko
import pytest

pytestmark = pytest.mark.e2e

PREFIX = "mt"  # namespaces of this test's cloud, apart from a user's own `make up` (prefix mm)


def netns_list() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()


@pytest.fixture(scope="module")
def dev(project, tmp_path_factory):
    if subprocess.run(["ip", "link", "show", "mm-lan0"], capture_output=True).returncode == 0:
        pytest.fail("the dev stack is deployed on this machine (mm-lan0 exists): its LAN address "
                    "would clash with this test's; run `bin/pulumi destroy --stack dev` first")
    # Not under /tmp: sshd's StrictModes refuses keys below a world-writable directory.
    run_dir = Path("/var/lib/mammatus-e2e") / uuid.uuid4().hex[:8] / "dev"
    project.set_stack_config("dev", "mammatus:runDir", str(run_dir))
    project.set_stack_config("dev", "mammatus:devBox", f"{{prefix: {PREFIX}}}")
    project.pulumi("stack", "init", "dev")
    project.run_dir = run_dir
    yield project
    # Whatever a failed test left running.
    project.pulumi("destroy", "--yes", "--stack", "dev", check=False)
    shutil.rmtree(run_dir.parent, ignore_errors=True)


def ssh(host: str, key_text: str, command: str) -> str:
    import io

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(key_text))
    client.connect(host, username="root", pkey=key, allow_agent=False, look_for_keys=False,
                   timeout=10)
    try:
        _, out, _ = client.exec_command(command, timeout=10)
        return out.read().decode()
    finally:
        client.close()


def test_up_creates_every_kind_of_resource(dev):
    up = dev.pulumi("up", "--yes", "--stack", "dev")
    assert "created" in up.stdout
    types = {r["type"] for r in dev.resources()}
    assert {"tls:index/privateKey:PrivateKey", "random:index/randomPassword:RandomPassword",
            "command:local:Command", "pulumi-python:dynamic/mammatus:LocalDirectory",
            "mammatus:core:Foundation", "mammatus:index:Cloud"} <= types

    out = dev.outputs()
    assert out["run_dir"] == str(dev.run_dir) and dev.run_dir.is_dir()
    assert {f"{PREFIX}-{n}" for n in ("wan", "lan", "gateway", "control", "storage")} <= set(netns_list())
    assert out["admin_public_key"].startswith("ssh-ed25519 ")
    assert Path(out["admin_public_key_file"]).read_text() == out["admin_public_key"]
    assert len(out["admin_password"]) == 24 and out["admin_password"].isalnum()


def test_every_host_takes_the_stack_key_and_refuses_passwords(dev):
    out = dev.outputs()
    for name, address in out["hosts"].items():
        netns = ssh(address, out["admin_private_key"], "ip netns identify $$; hostname -I")
        assert address in netns
        with pytest.raises(paramiko.AuthenticationException):
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(address, username="root", password="root", allow_agent=False,
                               look_for_keys=False, timeout=10)
            finally:
                client.close()


def in_netns(host: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", f"{PREFIX}-{host}", *argv],
                          capture_output=True, text=True, timeout=30)


def test_lan_reaches_the_upstream_through_nat_and_resolves_names(dev):
    out = dev.outputs()
    page = in_netns("control", "curl", "-s", "-m", "5", "http://192.0.2.1/")
    assert page.stdout == "hello from upstream\n"
    gw = out["gateway_lan_ip"]
    assert in_netns("control", "dig", "+short", f"@{gw}", f"gateway.{out['domain']}").stdout.strip() == gw
    assert in_netns("control", "dig", "+short", f"@{gw}", "upstream.test").stdout.strip() == "192.0.2.1"
    # The upstream sees the gateway's WAN address, not the LAN host's (NAT).
    log = (dev.run_dir / "upstream" / "run" / "web.log").read_text()
    assert "192.0.2.2" in log and "198.51.100.2" not in log


def test_client_holds_a_lease_and_uses_the_clouds_dns(dev):
    import ipaddress

    out = dev.outputs()
    assert out["client_netns"] == f"{PREFIX}-client"
    address = ipaddress.ip_address(out["client_address"])
    assert ipaddress.ip_address("198.51.100.100") <= address <= ipaddress.ip_address("198.51.100.199")
    leases = next((dev.run_dir / "hosts" / "gateway").rglob("*.leases")).read_text()
    assert f" {address} client " in leases
    # Plain names work: resolv.conf of the namespace comes from the lease.
    assert in_netns("client", "dig", "+short", f"gateway.{out['domain']}").stdout.strip() == out["gateway_lan_ip"]
    assert in_netns("client", "curl", "-s", "-m", "5", "http://upstream.test/").stdout == "hello from upstream\n"


def test_client_fetches_the_pxe_boot_file_and_cannot_upload(dev, tmp_path):
    gw = dev.outputs()["gateway_lan_ip"]
    got = in_netns("client", "busybox", "tftp", "-g", "-r", "undionly.kpxe",
                   "-l", str(tmp_path / "boot"), gw)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "boot").read_bytes() == Path("/usr/lib/ipxe/undionly.kpxe").read_bytes()
    (tmp_path / "evil").write_text("x")
    put = in_netns("client", "busybox", "tftp", "-p", "-l", str(tmp_path / "evil"), "-r", "evil", gw)
    assert put.returncode != 0


def test_the_wan_cannot_reach_into_the_lan_or_the_gateway(dev):
    into_lan = in_netns("wan", "curl", "-s", "-m", "3", "http://198.51.100.2/")
    assert into_lan.returncode != 0
    # Default-deny inbound on the WAN: the gateway's own ports are silently dropped.
    ssh_on_gateway = in_netns("wan", "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/192.0.2.2/22")
    assert ssh_on_gateway.returncode == 124  # timed out: dropped, not even refused


def test_serf_sees_every_host_alive_and_each_answers_a_query(dev):
    hosts = set(dev.outputs()["hosts"])
    members = in_netns("control", "serf", "members").stdout
    alive = {line.split()[0] for line in members.splitlines() if " alive " in line}
    assert alive == hosts
    query = in_netns("control", "serf", "query", "-timeout", "5s", "uptime").stdout
    assert {h for h in hosts if f"Response from '{h}'" in query} == hosts


def test_sns_fans_out_to_sqs_for_a_client_on_the_lan(dev):
    import json
    import sys

    script = Path(__file__).parent / "scripts" / "sns_to_sqs.py"
    out = json.dumps(dev.outputs())
    got = in_netns("client", sys.executable, str(script), out)
    assert got.returncode == 0, got.stderr
    assert "hello from the client" in got.stdout


def test_the_ca_answers_over_tls_that_its_root_verifies(dev, tmp_path):
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    out = dev.outputs()
    root = x509.load_pem_x509_certificate(out["ca_root_pem"].encode())
    assert hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest() == out["ca_root_fingerprint"]
    (tmp_path / "root.pem").write_text(out["ca_root_pem"])
    health = in_netns("client", "curl", "-s", "-m", "5", "--cacert", str(tmp_path / "root.pem"),
                      f"{out['ca_url']}/health")
    assert health.stdout.strip() == '{"status":"ok"}', health.stderr


def test_secrets_are_encrypted_in_the_state(dev):
    password = dev.outputs()["admin_password"]
    state = dev.pulumi("stack", "export", "--stack", "dev").stdout
    assert password not in state
    assert "ciphertext" in state


def test_second_up_changes_nothing(dev):
    again = dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")
    assert "unchanged" in again.stdout


def test_a_hand_edit_is_found_by_refresh_and_repaired_by_up(dev):
    conf = next((dev.run_dir / "hosts" / "gateway").rglob("dnsmasq.conf"))
    original = conf.read_text()
    conf.write_text(original + "server=/evil.test/192.0.2.66\n")  # someone edits it by hand
    preview = dev.pulumi("preview", "--refresh", "--diff", "--stack", "dev")
    assert "evil.test" in preview.stdout and "RemoteFile" in preview.stdout
    dev.pulumi("up", "--yes", "--refresh", "--stack", "dev")
    assert conf.read_text() == original
    dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")


def test_destroy_removes_everything(dev):
    dev.pulumi("destroy", "--yes", "--stack", "dev")
    assert dev.resources() == []
    assert not dev.run_dir.exists()
    assert not [ns for ns in netns_list() if ns.startswith(f"{PREFIX}-")]
    assert subprocess.run(["ip", "link", "show", f"{PREFIX}-lan0"], capture_output=True).returncode != 0
    assert f"{PREFIX}-lan0" not in subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert not Path(f"/etc/netns/{PREFIX}-client").exists()
    leftovers = subprocess.run(["pgrep", "-af", str(dev.run_dir)], capture_output=True, text=True)
    assert leftovers.stdout == ""  # no daemon of the stack still runs


def test_invalid_config_fails_before_any_resource(dev):
    dev.set_stack_config("dev", "mammatus:runDir", "not/absolute")
    try:
        failed = dev.pulumi("up", "--yes", "--stack", "dev", check=False)
        assert failed.returncode != 0
        assert "mammatus:runDir: must be an absolute path" in failed.stdout + failed.stderr
        # Only the stack's own root may exist: no resource of the cloud was registered.
        assert {r["type"] for r in dev.resources()} <= {"pulumi:pulumi:Stack"}
        assert not dev.run_dir.exists()
    finally:
        dev.set_stack_config("dev", "mammatus:runDir", str(dev.run_dir))
