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


class FakeTransport:
    def __init__(self):
        self.active, self.keepalive = True, None

    def is_active(self):
        return self.active

    def set_keepalive(self, seconds):
        self.keepalive = seconds


class FakeClient:
    def __init__(self, n):
        self.n, self.transport, self.closed = n, FakeTransport(), False

    def get_transport(self):
        return self.transport

    def close(self):
        self.closed = True


def counting_pool():
    dialled = []

    def dial(host, port, user, **options):
        dialled.append((host, port, user, options))
        return FakeClient(len(dialled))
    return ssh.Pool(dial), dialled


def test_a_pool_reuses_one_connection_per_destination_and_credentials():
    pool, dialled = counting_pool()
    for _ in range(3):
        pool.acquire("10.0.0.1", 22, "root", private_key="k").release()
    pool.acquire("10.0.0.1", 22, "root", private_key="other").release()
    pool.acquire("10.0.0.2", 22, "root", private_key="k").release()
    assert [(d[0], d[3]["private_key"]) for d in dialled] == [
        ("10.0.0.1", "k"), ("10.0.0.1", "other"), ("10.0.0.2", "k")]
    lease = pool.acquire("10.0.0.1", 22, "root", private_key="k")
    assert lease.client.n == 1 and lease.client.transport.keepalive == ssh.KEEPALIVE_SECONDS


def test_a_busy_connection_gets_a_sibling_and_a_dead_one_is_replaced():
    pool, dialled = counting_pool()
    held = [pool.acquire("h", 22, "root") for _ in range(ssh.LEASES_PER_CONNECTION)]
    extra = pool.acquire("h", 22, "root")
    assert {lease.client.n for lease in held} == {1} and extra.client.n == 2
    for lease in [*held, extra]:
        lease.release()
    first = pool.acquire("h", 22, "root")
    assert first.client.n == 1
    first.client.transport.active = False    # the host rebooted
    assert pool.acquire("h", 22, "root").client.n == 2 and first.client.closed
    assert len(dialled) == 2


def test_a_channel_that_will_not_open_is_tried_once_more_on_a_new_connection():
    pool, dialled = counting_pool()
    lease = pool.acquire("h", 22, "root")
    other = pool.acquire("h", 22, "root")        # another user of the same connection
    opened = []

    def open_channel(client):
        if client.n == 1:
            client.transport.active = False      # the peer went away
            raise EOFError("peer went away")
        opened.append(client.n)
        return "channel"
    assert ssh.with_channel(lease, open_channel) == "channel"
    assert opened == [2] and len(dialled) == 2 and other.client.closed
    lease.release()
    assert pool.acquire("h", 22, "root").client.n == 2   # the dead one is gone from the pool
    with pytest.raises(OSError):
        ssh.with_channel(pool.acquire("h", 22, "root"), lambda c: (_ for _ in ()).throw(OSError("no")))


def test_a_full_connection_stays_for_its_other_users():
    import paramiko
    pool, dialled = counting_pool()
    lease, other = pool.acquire("h", 22, "root"), pool.acquire("h", 22, "root")

    def open_channel(client):
        if client.n == 1:
            raise paramiko.ChannelException(1, "administratively prohibited")
        return client.n
    assert ssh.with_channel(lease, open_channel) == 2
    assert not other.client.closed and other.client.n == 1
    lease.release()
    other.release()
    assert {pool.acquire("h", 22, "root").client.n for _ in range(2)} == {1}
