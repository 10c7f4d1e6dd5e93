"""The rendered sshd_config against the real sshd: `sshd -t -f`, then a real sshd on loopback
that lets the admin key in and nobody with a password; the dnsmasq provider's SSH transport
(paramiko + SFTP) writes through it."""

import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import paramiko
import pytest

from components.render import sshd
from dynamic_providers.dnsmasq import RecordProvider
from tests.support.netlab import run

pytestmark = pytest.mark.integration


@pytest.fixture
def etc():
    # Not under /tmp: StrictModes refuses key files below a world-writable directory.
    path = Path(f"/run/mammatus-test-{uuid.uuid4().hex[:8]}")
    path.mkdir(mode=0o755)
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    try:
        for kind in sshd.HOST_KEY_TYPES:
            run("ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path / f"ssh_host_{kind}_key"))
        (path / "authorized_keys.d").mkdir(mode=0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def config(etc: Path, **kw) -> Path:
    text = sshd.render(host_keys=sshd.host_key_paths(str(etc)), pid_file=str(etc / "sshd.pid"),
                       authorized_keys_dir=str(etc / "authorized_keys.d"), **kw)
    path = etc / "sshd_config"
    path.write_text(text)
    return path


def test_sshd_accepts_the_rendered_config(etc):
    result = run("sshd", "-t", "-f", str(config(etc)), check=False)
    assert result.returncode == 0, result.stderr
    # And sshd's effective view (-T) says passwords are off.
    effective = run("sshd", "-T", "-f", str(config(etc)), "-C", "user=root,host=x,addr=127.0.0.1").stdout
    assert "passwordauthentication no" in effective
    assert "kbdinteractiveauthentication no" in effective
    assert "permitrootlogin without-password" in effective or "permitrootlogin prohibit-password" in effective
    assert f"authorizedkeysfile {etc}/authorized_keys.d/%u .ssh/authorized_keys" in effective


def test_sshd_rejects_a_broken_config(etc):
    path = config(etc)
    path.write_text(path.read_text().replace("Ciphers ", "Ciphers rot13,"))
    assert run("sshd", "-t", "-f", str(path), check=False).returncode != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(etc):
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mammatus-admin", "-f", str(etc / "admin"))
    key_file = Path(sshd.authorized_keys_path("root", str(etc / "authorized_keys.d")))
    key_file.write_text((etc / "admin.pub").read_text())
    key_file.chmod(0o644)
    port = _free_port()
    cfg = config(etc, port=port, listen_addresses=["127.0.0.1"])
    log = open(etc / "sshd.log", "w")
    daemon = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        for _ in range(100):  # bounded wait for the listener; nothing timed is asserted
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert daemon.poll() is None, (etc / "sshd.log").read_text()
            subprocess.run(["sleep", "0.1"])
        yield {"port": port, "admin_key": (etc / "admin").read_text(), "etc": etc}
    finally:
        daemon.terminate()
        daemon.wait()
        log.close()


def test_the_admin_key_gets_in_and_passwords_are_not_even_offered(server):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    key = paramiko.Ed25519Key.from_private_key_file(str(server["etc"] / "admin"))
    client.connect("127.0.0.1", port=server["port"], username="root", pkey=key,
                   look_for_keys=False, allow_agent=False)
    try:
        _, out, _ = client.exec_command("echo in")
        assert out.read().decode().strip() == "in"
        negotiated = client.get_transport()
        assert negotiated.remote_cipher in sshd.CIPHERS
    finally:
        client.close()

    transport = paramiko.Transport(("127.0.0.1", server["port"]))
    transport.start_client()
    try:
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            transport.auth_password("root", "secret")
        assert refused.value.allowed_types == ["publickey"]
    finally:
        transport.close()


def test_the_dnsmasq_provider_writes_over_ssh(server, tmp_path):
    provider = RecordProvider()
    hosts_dir = server["etc"] / "dnsmasq-hosts"
    props = {"connection": {"host": "127.0.0.1", "port": server["port"], "user": "root",
                            "private_key": server["admin_key"]},
             "hosts_dir": str(hosts_dir), "pid_file": str(server["etc"] / "no-dnsmasq.pid"),
             "name": "files.lab", "address": "10.0.0.30"}
    created = provider.create(provider.check({}, props).inputs)
    assert (hosts_dir / "mammatus-files.lab").read_text().endswith("10.0.0.30 files.lab files\n")
    assert provider.read(created.id, created.outs).outs["address"] == "10.0.0.30"
    provider.delete(created.id, created.outs)
    assert not (hosts_dir / "mammatus-files.lab").exists()
