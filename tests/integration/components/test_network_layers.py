"""The network layers' own command texts (what pulumi-command runs on a host over SSH), run for
real inside test namespaces acting as a dev-stack host (direct service manager, per-host file
root): files written the way HostFile writes them, then the layer's commands."""

import subprocess
from pathlib import Path

import pytest

from components.dhcp_dns_tftp import DhcpDnsTftp
from components.firewall import Firewall
from components.gateway import Gateway
from components.ssh_access import SshAccess
from dynamic_providers.dnsmasq import RecordProvider
from dynamic_providers.remote_file import RemoteFileProvider
from stacks.spec import StackSpec
from tests.support.netlab import context, netns, plain, registered, run, veth

pytestmark = pytest.mark.integration


def dev_spec(root: Path) -> StackSpec:
    return StackSpec.model_validate({
        "runDir": str(root / "run"),
        "hosts": [{"name": "gw", "address": "10.78.0.1", "roles": ["gateway"],
                   "serviceManager": "direct", "fileRoot": str(root / "gw")}],
        "gateway": {"host": "gw", "wanInterface": "wan0", "lanInterface": "lan0",
                    "lanAddress": "10.78.0.1"},
        "network": {"domain": "dev.test", "lanSubnet": "10.78.0.0/24",
                    "dhcpRange": {"start": "10.78.0.100", "end": "10.78.0.150"},
                    "upstreamDns": ["192.0.2.53"]},
        "firewall": [{"name": "web-in", "chain": "input", "fromZone": "wan", "protocol": "tcp",
                      "ports": [443]}],
    })


def sh(script: str, ns: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    argv = ["sh", "-c", script]
    if ns:
        argv = ["ip", "netns", "exec", ns, *argv]
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result


def write(mocks, name: str, ns: str | None = None) -> None:
    """What HostFile does on the host, by its own provider (here on the local filesystem, which
    the namespace hosts share)."""
    file = mocks.named(f"{name}-write").inputs
    RemoteFileProvider().create({"connection": None, "path": file["path"],
                                 "content": plain(file["content"]), "mode": file["mode"]})


def test_gateway_and_firewall_commands_on_a_namespace_host(tmp_path):
    spec = dev_spec(tmp_path)
    ctx = context(spec)
    mocks, _ = registered(lambda: (Gateway("it-gw", ctx), Firewall("it-fw", ctx)))
    with netns("gw") as gw, netns("wan") as wan:
        veth(gw, "wan0", "198.51.100.1/24", wan, "eth0", "198.51.100.2/24")
        write(mocks, "it-gw-ip-forward-conf", gw)
        out = sh(mocks.named("it-gw-ip-forward").inputs["create"], gw).stdout
        assert out.strip().endswith("1")
        assert sh("cat /proc/sys/net/ipv4/ip_forward", gw).stdout.strip() == "1"

        write(mocks, "it-fw-rules", gw)
        assert (tmp_path / "gw/etc/iptables/rules.v4").exists()
        assert sh(mocks.named("it-fw-apply").inputs["create"], gw).stdout.strip() == "applied"
        saved = sh("iptables-save", gw).stdout
        assert '-A POSTROUTING -s 10.78.0.0/24 -o wan0 -m comment --comment "mammatus:nat" -j MASQUERADE' in saved
        assert "--dport 443" in saved and ":INPUT DROP" in saved

        sh(mocks.named("it-fw-apply").inputs["delete"], gw)
        opened = sh("iptables-save", gw).stdout
        assert ":INPUT ACCEPT" in opened and "MASQUERADE" not in opened
        sh(mocks.named("it-gw-ip-forward").inputs["delete"], gw)
        assert sh("cat /proc/sys/net/ipv4/ip_forward", gw).stdout.strip() == "0"


def test_dhcp_dns_tftp_commands_start_a_dnsmasq_that_answers(tmp_path):
    spec = dev_spec(tmp_path)
    ctx = context(spec)
    mocks, _ = registered(lambda: DhcpDnsTftp("it-dns", ctx))
    with netns("gw") as gw, netns("cli") as cli:
        veth(gw, "lan0", "10.78.0.1/24", cli, "eth0", "10.78.0.200/24")
        sh(mocks.named("it-dns-dirs").inputs["create"], gw)
        write(mocks, "it-dns-config", gw)
        sh(mocks.named("it-dns-check").inputs["create"], gw)
        service = mocks.named("it-dns-dnsmasq-run").inputs
        sh(service["create"], gw)
        try:
            answer = run("dig", "+short", "+time=2", "@10.78.0.1", "gateway.dev.test", netns=cli).stdout
            assert answer.strip() == "10.78.0.1"
            # A record through the provider, at the paths the component gave it.
            target = ctx.shared["dnsmasq"]
            provider = RecordProvider()
            provider.create({"connection": None, "hosts_dir": target["hosts_dir"],
                             "pid_file": target["pid_file"], "name": "files.dev.test",
                             "address": "10.78.0.60"})
            answer = run("dig", "+short", "+time=2", "@10.78.0.1", "files.dev.test", netns=cli).stdout
            assert answer.strip() == "10.78.0.60"
            pid = Path(target["pid_file"]).read_text().strip()
        finally:
            sh(service["delete"], gw)
        # The service manager's stop really stopped it (the pid dnsmasq wrote is gone).
        assert subprocess.run(["kill", "-0", pid], capture_output=True).returncode != 0


def test_ssh_access_commands_generate_keys_check_and_install(tmp_path):
    spec = dev_spec(tmp_path)
    mocks, _ = registered(lambda: SshAccess("it-ssh", context(spec)))
    write(mocks, "it-ssh-gw-authorized-keys")
    write(mocks, "it-ssh-gw-sshd-config")
    sh("mkdir -p /run/sshd")
    sh(mocks.named("it-ssh-gw-sshd-reload").inputs["create"])
    root = tmp_path / "gw"
    assert (root / "etc/ssh/ssh_host_ed25519_key").exists()
    live = (root / "etc/ssh/sshd_config").read_text()
    assert "PasswordAuthentication no" in live and f"HostKey {root}/etc/ssh/ssh_host_ed25519_key" in live
    assert (root / "etc/ssh/authorized_keys.d/root").read_text() == "ssh-ed25519 AAAAtest admin\n"
