from components.render import sshd


def settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.split(" ", 1)
            out.setdefault(key, []).append(value)
    return out


def test_keys_only_no_passwords():
    s = settings(sshd.render())
    assert s["PasswordAuthentication"] == ["no"]
    assert s["KbdInteractiveAuthentication"] == ["no"]
    assert s["PermitEmptyPasswords"] == ["no"]
    assert s["PubkeyAuthentication"] == ["yes"]
    assert s["PermitRootLogin"] == ["prohibit-password"]
    assert s["AuthenticationMethods"] == ["publickey"]
    assert s["AuthorizedKeysFile"] == ["/etc/ssh/authorized_keys.d/%u .ssh/authorized_keys"]


def test_modern_algorithms_only():
    s = settings(sshd.render())
    kex = s["KexAlgorithms"][0].split(",")
    assert kex[0] == "sntrup761x25519-sha512@openssh.com" and "curve25519-sha256" in kex
    assert not any("sha1" in k for k in kex)
    ciphers = s["Ciphers"][0].split(",")
    assert not any("cbc" in c or "3des" in c for c in ciphers)
    assert not any("sha1" in m or "md5" in m for m in s["MACs"][0].split(","))


def test_paths_port_and_listen_addresses_are_rendered():
    s = settings(sshd.render(port=2222, listen_addresses=["10.0.0.1"],
                             host_keys=sshd.host_key_paths("/r/etc/ssh"), pid_file="/r/run/sshd.pid",
                             authorized_keys_dir="/r/keys"))
    assert s["Port"] == ["2222"] and s["ListenAddress"] == ["10.0.0.1"]
    assert s["HostKey"] == ["/r/etc/ssh/ssh_host_ed25519_key", "/r/etc/ssh/ssh_host_ecdsa_key",
                            "/r/etc/ssh/ssh_host_rsa_key"]
    assert s["PidFile"] == ["/r/run/sshd.pid"]
    assert s["AuthorizedKeysFile"] == ["/r/keys/%u .ssh/authorized_keys"]
    assert sshd.authorized_keys_path("admin", "/r/keys") == "/r/keys/admin"


def test_sftp_is_internal_so_file_copies_work_everywhere():
    assert settings(sshd.render())["Subsystem"] == ["sftp internal-sftp"]
