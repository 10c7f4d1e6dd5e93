import pytest

from components.ssh_access import SshAccess
from tests.support.netlab import context, plain, registered, stack_spec


@pytest.fixture(scope="module")
def lab():
    return registered(lambda: SshAccess("ssh", context(stack_spec("lab"))))


def test_every_host_trusts_the_admin_key(lab):
    mocks, _ = lab
    for host, address in [("gw", "10.10.0.1"), ("node-1", "10.10.0.11"), ("node-2", "10.10.0.12"),
                          ("store-1", "10.10.0.21")]:
        keys = mocks.named(f"ssh-{host}-authorized-keys-write").inputs
        assert keys["content"] == "ssh-ed25519 AAAAtest admin\n"
        assert "/etc/ssh/authorized_keys.d/root" in keys["path"]
        assert plain(keys["connection"])["host"] == address


def test_sshd_config_has_passwords_off(lab):
    mocks, _ = lab
    text = mocks.named("ssh-gw-sshd-config-write").inputs["content"].splitlines()
    assert "PasswordAuthentication no" in text
    assert "KbdInteractiveAuthentication no" in text
    assert "PermitRootLogin prohibit-password" in text
    assert "AuthorizedKeysFile /etc/ssh/authorized_keys.d/%u .ssh/authorized_keys" in text


def test_config_is_checked_before_install_and_sshd_reloaded(lab):
    mocks, _ = lab
    create = mocks.named("ssh-gw-sshd-reload").inputs["create"]
    check = create.index("sshd -t -f /etc/mammatus/ssh/sshd_config")
    install = create.index("install -m 0644 /etc/mammatus/ssh/sshd_config /etc/ssh/sshd_config")
    assert check < install < create.index("systemctl reload ssh.service")
    assert "ssh-keygen -A &&" in create
