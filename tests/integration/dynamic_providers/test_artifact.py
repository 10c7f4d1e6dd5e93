"""Artifact against a real sshd: delivered and checked by sha256 on the host; a deleted or
altered copy is seen by read and delivered again; a corrupt source is refused before it
replaces the file on the host."""

import hashlib
import os

import dill
import pytest

from dynamic_providers.artifact import ArtifactProvider, DigestMismatch
from tests.support.sshd import sshd_connection

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def connection(tmp_path_factory):
    with sshd_connection(tmp_path_factory.mktemp("sshd")) as conn:
        yield conn


def build(tmp_path, content: bytes):
    source = tmp_path / "dist" / "linux-amd64" / "tool"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(content)
    return str(source), hashlib.sha256(content).hexdigest()


def test_deliver_drift_restore_delete(connection, tmp_path):
    provider = dill.loads(dill.dumps(ArtifactProvider(), recurse=True))  # as Pulumi ships it
    blob = os.urandom(300_000)   # several SFTP chunks
    source, digest = build(tmp_path, blob)
    path = str(tmp_path / "host" / "opt" / "mammatus" / "bin" / "tool")
    props = provider.check({}, {"connection": connection, "artifact": "tool linux-amd64",
                                "source": source, "sha256": digest, "path": path}).inputs
    created = provider.create(props)
    assert open(path, "rb").read() == blob and oct(os.stat(path).st_mode & 0o777) == "0o755"
    assert not os.path.exists(path + ".mammatus-new")
    assert provider.read(created.id, created.outs).outs["sha256"] == digest

    with open(path, "ab") as f:       # altered on the host
        f.write(b"x")
    read = provider.read(created.id, created.outs)
    assert read.outs["sha256"] != digest
    assert provider.diff(created.id, read.outs, props).changes
    provider.update(created.id, read.outs, props)
    assert open(path, "rb").read() == blob

    os.remove(path)                   # deleted on the host: gone from the state
    assert provider.read(created.id, created.outs).id is None
    provider.create(props)
    assert open(path, "rb").read() == blob
    provider.delete(created.id, props)
    assert not os.path.exists(path)


def test_a_copy_that_does_not_match_the_pin_never_replaces_the_file(connection, tmp_path):
    provider = ArtifactProvider()
    source, digest = build(tmp_path, b"good build")
    path = str(tmp_path / "bin" / "tool")
    props = provider.check({}, {"connection": connection, "artifact": "tool linux-arm64",
                                "source": source, "sha256": digest, "path": path}).inputs
    provider.create(props)
    with open(source, "wb") as f:     # the local build changed under its pin
        f.write(b"tampered")
    with pytest.raises(DigestMismatch, match=r"tool linux-arm64: the copy on the host has sha256 "
                                             r"[0-9a-f]{64}, the pinned build has " + digest):
        provider.update(path, props, props)
    assert open(path, "rb").read() == b"good build"
    assert not os.path.exists(path + ".mammatus-new")


def test_only_host_path_digest_and_mode_matter():
    provider = ArtifactProvider()
    old = {"connection": {"host": "10.0.0.21"}, "source": "/a/checkout/.tools/dist/x",
           "sha256": "a" * 64, "path": "/opt/mammatus/bin/x", "mode": "0755"}
    assert not provider.diff("x", old, {**old, "source": "/moved/.tools/dist/x"}).changes
    assert provider.diff("x", old, {**old, "sha256": "b" * 64}).replaces == []
    assert provider.diff("x", old, {**old, "path": "/usr/local/bin/x"}).replaces == ["path"]


def test_check_names_bad_inputs():
    failures = ArtifactProvider().check({}, {"path": "bin/x", "sha256": "nope", "source": "",
                                             "mode": "rwx"}).failures
    assert {f.property for f in failures} == {"path", "sha256", "source", "mode"}
