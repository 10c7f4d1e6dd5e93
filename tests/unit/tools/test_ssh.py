"""Mammatus' one SSH client (tools/ssh.py), the parts that need no server: retries, host-key
pinning with both fingerprints, key loading. A real sshd: tests/integration/tools/
test_remote_sshd.py and tests/integration/dynamic_providers/test_remote_file.py."""

import pytest

from tools import ssh
from tools.providers import tls


def test_dial_retries_up_to_the_limit():
    calls = []

    def failing():
        calls.append(1)
        raise OSError("connection refused")

    with pytest.raises(ssh.SshError, match="after 3 failed attempts: connection refused"):
        ssh.with_retries("Dial", 3, failing, sleep=lambda s: None)
    assert len(calls) == 3
    attempts = iter([OSError("x"), OSError("y"), "client"])

    def flaky():
        v = next(attempts)
        if isinstance(v, Exception):
            raise v
        return v
    assert ssh.with_retries("Dial", -1, flaky, sleep=lambda s: None) == "client"


def test_a_wrong_host_key_is_not_retried():
    calls = []

    def mismatch():
        calls.append(1)
        raise ssh.HostKeyMismatch("ssh: host key mismatch")
    with pytest.raises(ssh.HostKeyMismatch):
        ssh.with_retries("Dial", 5, mismatch, sleep=lambda s: None)
    assert len(calls) == 1


class Key:
    def __init__(self, name, b64):
        self.n, self.b = name, b64

    def get_name(self):
        return self.n

    def get_base64(self):
        return self.b


def test_pinned_host_key_names_both_fingerprints():
    mine = tls.key_outputs(tls.generate_key("ED25519"))["publicKeyOpenssh"].split()
    other = tls.key_outputs(tls.generate_key("ED25519"))["publicKeyOpenssh"].split()
    policy = ssh.pinned_host_key(f"{mine[0]} {mine[1]} comment")
    policy.missing_host_key(None, "h", Key(*mine[:2]))
    with pytest.raises(ssh.HostKeyMismatch) as err:
        policy.missing_host_key(None, "h", Key(*other[:2]))
    assert ssh.fingerprint(other[1]) in str(err.value) and ssh.fingerprint(mine[1]) in str(err.value)


def test_an_unparseable_host_key_is_refused():
    with pytest.raises(ssh.SshError, match="expected 'type base64'"):
        ssh.pinned_host_key("ssh-ed25519")


def test_private_key_loading_for_paramiko():
    for alg in ("RSA", "ED25519"):
        key = tls.key_outputs(tls.generate_key(alg))
        for form in ("privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"):
            pk = ssh.load_key(key[form])
            assert pk.get_base64() == key["publicKeyOpenssh"].split()[1]
    with pytest.raises(ssh.SshError, match="private key"):
        ssh.load_key("nonsense")
