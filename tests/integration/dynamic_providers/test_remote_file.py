"""RemoteFile against a real sshd: write, hand edit seen by read, repaired by update, removed."""

import os

import dill
import pytest

from dynamic_providers.remote_file import RemoteFileProvider
from tests.support.sshd import sshd_connection
from tools.providers import tls

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def connection(tmp_path_factory):
    with sshd_connection(tmp_path_factory.mktemp("sshd")) as conn:
        yield conn


def test_write_drift_repair_delete(connection, tmp_path):
    provider = dill.loads(dill.dumps(RemoteFileProvider(), recurse=True))  # as Pulumi ships it
    path = str(tmp_path / "etc" / "dnsmasq.conf")
    props = provider.check({}, {"connection": connection, "path": path,
                                "content": "port=53\n", "mode": "0640"}).inputs
    created = provider.create(props)
    assert open(path).read() == "port=53\n" and oct(os.stat(path).st_mode & 0o777) == "0o640"

    with open(path, "a") as f:  # a hand edit on the host
        f.write("server=8.8.8.8\n")
    read = provider.read(created.id, created.outs)
    assert read.inputs["content"] == "port=53\nserver=8.8.8.8\n"
    diff = provider.diff(created.id, read.inputs, props)
    assert diff.changes and diff.replaces == []

    provider.update(created.id, read.outs, props)
    assert open(path).read() == "port=53\n"
    provider.delete(created.id, props)
    assert provider.read(created.id, props).id is None


def test_check_names_bad_paths_and_modes():
    failures = RemoteFileProvider().check({}, {"path": "etc/x", "mode": "rw", "content": ""}).failures
    assert {f.property for f in failures} == {"path", "mode"}


def test_a_host_offering_another_key_is_refused(connection, tmp_path):
    from dynamic_providers.transport import HostKeyMismatch
    impostor = tls.key_outputs(tls.generate_key("ED25519"))["publicKeyOpenssh"].strip()
    provider = RemoteFileProvider()
    path = str(tmp_path / "never-written")
    with pytest.raises(HostKeyMismatch, match=r"host key mismatch for \[127.0.0.1\]:\d+: it offers "
                                              r"ssh-ed25519 SHA256:\S+, the cloud expects"):
        provider.create({"connection": {**connection, "host_key": impostor}, "path": path,
                         "content": "x\n", "mode": "0644"})
    assert not os.path.exists(path)


def test_a_daemons_file_is_its_users_from_the_first_byte(connection, tmp_path):
    import pwd
    import threading
    nobody = pwd.getpwnam("nobody")
    group = __import__("grp").getgrgid(nobody.pw_gid).gr_name
    path = tmp_path / "secret.key"
    tmp = tmp_path / "secret.key.mammatus-new"
    seen: list[tuple[int, int, int]] = []   # (mode, uid, size) of the file being written
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                st = os.stat(tmp)
                seen.append((st.st_mode & 0o777, st.st_uid, st.st_size))
            except FileNotFoundError:
                pass
    watcher = threading.Thread(target=watch)
    watcher.start()
    provider = RemoteFileProvider()
    props = provider.check({}, {"connection": connection, "path": str(path), "content": "k" * 65536,
                                "mode": "0600", "owner": f"nobody:{group}"}).inputs
    try:
        created = provider.create(props)
    finally:
        stop.set()
        watcher.join()
    st = os.stat(path)
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, nobody.pw_uid)
    # Whenever it held a byte, it was already 0600 and nobody's.
    assert all(mode == 0o600 and uid == nobody.pw_uid for mode, uid, size in seen if size)
    assert provider.read(created.id, created.outs).inputs["owner"] == f"nobody:{group}"
    os.chown(path, 0, 0)                       # someone hands it back to root
    drifted = provider.read(created.id, created.outs).inputs
    assert provider.diff(created.id, drifted, props).changes
