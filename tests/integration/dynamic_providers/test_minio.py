"""The MinIO provider classes against a real MinIO server on loopback.

The server is the pinned build of tools/minio (tools/bootstrap -> .tools/bin/minio). The
rendered policies (components/render/minio_policy.py) are set through the providers and then
enforced by the server: anonymous reads of a public-read bucket work, anonymous writes do not;
a writer user writes its bucket and cannot touch another; a reader only reads. Then MinIO with
`--certs-dir` (a certificate from a throwaway CA standing in for the cloud's step-ca, as the
ObjectStorage component writes it): the providers verify it against the root, a client that
does not trust the root and plain HTTP get nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import dill
import pytest

from components.object_storage import ROOT_USER, TLS_CERT, TLS_KEY, env_file
from components.render import minio_policy
from dynamic_providers.minio import BucketNotEmpty, BucketProvider, UserProvider, user_policy_name
from tests.support.daemons import free_port
from tests.support.pki import make_pki, server_certificate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MINIO = ROOT / ".tools" / "bin" / "minio"


@contextlib.contextmanager
def run_minio(data: Path, certs_dir: Path | None = None, root: str | None = None):
    """MinIO on loopback, its root credentials the way the ObjectStorage component gives them
    (its rendered env file, named by MINIO_CONFIG_ENV_FILE); HTTPS with `certs_dir`, awaited
    with `root`. Yields the providers' connection."""
    if not MINIO.exists():
        subprocess.run([str(ROOT / "tools" / "minio" / "build")], check=True)
    port, console = free_port(), free_port()
    root_password = secrets.token_hex(16)
    (data / "minio.env").write_text(env_file(root_password))
    env = {"PATH": os.environ["PATH"], "HOME": str(data),
           "MINIO_CONFIG_ENV_FILE": str(data / "minio.env")}
    tls = ["--certs-dir", str(certs_dir)] if certs_dir else []
    scheme = "https" if certs_dir else "http"
    context = ssl.create_default_context(cadata=root) if root else None
    log = open(data / "minio.log", "w")
    proc = subprocess.Popen([str(MINIO), "server", str(data / "export"), "--address",
                             f"127.0.0.1:{port}", "--console-address", f"127.0.0.1:{console}", *tls],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/minio/health/ready", timeout=1,
                                       context=context)
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, (data / "minio.log").read_text()
                time.sleep(0.2)
        else:
            pytest.fail("MinIO did not become ready: " + (data / "minio.log").read_text())
        conn = {"endpoint": f"127.0.0.1:{port}", "access_key": ROOT_USER,
                "secret_key": root_password, "secure": bool(certs_dir)}
        yield {**conn, "ca_pem": root} if root else conn
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_minio(tmp_path_factory.mktemp("minio")) as conn:
        yield conn


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("tls-minio")
    pki = make_pki()
    chain, key = server_certificate(pki, "storage-1.mammatus", ip_addresses=["127.0.0.1"])
    # The names the ObjectStorage component writes them under, in a --certs-dir of the test's.
    certs = data / "certs"
    certs.mkdir()
    (certs / Path(TLS_CERT).name).write_text(chain)
    (certs / Path(TLS_KEY).name).write_text(key)
    os.chmod(certs / Path(TLS_KEY).name, 0o600)
    with run_minio(data, certs, pki.root_pem) as conn:
        yield conn


def anonymous(method: str, url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code


def as_user(conn: dict, key: str, secret: str):
    from minio import Minio
    return Minio(conn["endpoint"], access_key=key, secret_key=secret, secure=False)


def test_public_read_bucket_is_enforced_and_read_back(server):
    provider = dill.loads(dill.dumps(BucketProvider()))
    news = {"name": "public-assets", "policy": minio_policy.bucket_policy("public-assets", "public-read"),
            "connection": server, "force_destroy": True}
    checked = provider.check({}, news)
    assert not checked.failures
    props = checked.inputs
    provider.create(props)
    admin = as_user(server, server["access_key"], server["secret_key"])
    admin.put_object("public-assets", "logo.txt", io.BytesIO(b"hi"), 2)

    base = f"http://{server['endpoint']}/public-assets"
    assert anonymous("GET", f"{base}/logo.txt") == 200
    assert anonymous("PUT", f"{base}/evil.txt", b"x") == 403

    read = provider.read("public-assets", props)
    assert read.outs["policy"] == props["policy"]  # canonical forms agree: no drift
    assert provider.diff("public-assets", props, read.inputs).changes is False

    private = {**props, "policy": None}
    provider.update("public-assets", props, private)
    assert anonymous("GET", f"{base}/logo.txt") == 403
    assert provider.read("public-assets", private).outs["policy"] is None

    # A bucket that holds objects is refused unless it was made to go with them.
    keep = {**private, "force_destroy": False}
    with pytest.raises(BucketNotEmpty, match="public-assets still holds objects.*forceDestroy"):
        provider.delete("public-assets", keep)
    assert admin.get_object("public-assets", "logo.txt").read() == b"hi"
    provider.delete("public-assets", private)
    assert provider.read("public-assets", private).id is None


def test_writer_and_reader_users(server):
    buckets, users = BucketProvider(), dill.loads(dill.dumps(UserProvider()))
    for name in ("backups", "other"):
        buckets.create({"name": name, "policy": None, "connection": server, "force_destroy": True})
    writer = users.check({}, {"access_key": "backup", "secret_key": secrets.token_hex(12),
                              "policy": minio_policy.user_policy(["backups"], []),
                              "connection": server}).inputs
    reader = users.check({}, {"access_key": "auditor", "secret_key": secrets.token_hex(12),
                              "policy": minio_policy.user_policy([], ["backups"]),
                              "connection": server}).inputs
    created = users.create(writer)
    assert created.outs["policy_name"] == user_policy_name("backup")
    # What it computed itself is no change: the next `up` with the same inputs is a no-op.
    assert not users.diff("backup", created.outs, writer).changes
    users.create(reader)

    w = as_user(server, "backup", writer["secret_key"])
    w.put_object("backups", "db.dump", io.BytesIO(b"data"), 4)
    from minio.error import S3Error
    with pytest.raises(S3Error) as denied:
        w.put_object("other", "x", io.BytesIO(b"x"), 1)
    assert denied.value.code == "AccessDenied"

    r = as_user(server, "auditor", reader["secret_key"])
    assert r.get_object("backups", "db.dump").read() == b"data"
    with pytest.raises(S3Error):
        r.put_object("backups", "y", io.BytesIO(b"y"), 1)

    read = users.read("backup", writer)
    assert read.outs["policy"] == writer["policy"]

    # Widening the writer to "other" is an update in place.
    wider = {**writer, "policy": minio_policy.user_policy(["backups", "other"], [])}
    assert users.diff("backup", writer, wider).replaces == []
    users.update("backup", writer, wider)
    w.put_object("other", "x", io.BytesIO(b"x"), 1)

    users.delete("backup", wider)
    assert users.read("backup", wider).id is None
    users.delete("auditor", reader)
    for name in ("backups", "other"):
        buckets.delete(name, {"name": name, "connection": server, "force_destroy": True})


def test_over_https_the_providers_verify_minio_against_the_root(tls_server):
    buckets, users = dill.loads(dill.dumps(BucketProvider())), dill.loads(dill.dumps(UserProvider()))
    props = buckets.check({}, {"name": "tls-assets", "policy": None, "connection": tls_server,
                               "force_destroy": True}).inputs
    buckets.create(props)
    assert buckets.read("tls-assets", props).id == "tls-assets"
    user = users.check({}, {"access_key": "tls-writer", "secret_key": secrets.token_hex(12),
                            "policy": minio_policy.user_policy(["tls-assets"], []),
                            "connection": tls_server}).inputs
    assert users.create(user).outs["policy_name"] == user_policy_name("tls-writer")
    assert users.read("tls-writer", user).outs["policy"] == user["policy"]
    users.delete("tls-writer", user)
    buckets.delete("tls-assets", props)
    assert buckets.read("tls-assets", props).id is None


def test_over_https_a_client_without_the_root_and_plain_http_get_nothing(tls_server):
    import urllib3
    from minio.error import InvalidResponseError
    untrusting = {k: v for k, v in tls_server.items() if k != "ca_pem"}
    with pytest.raises(urllib3.exceptions.MaxRetryError, match="CERTIFICATE_VERIFY_FAILED"):
        BucketProvider().create({"name": "never", "policy": None, "connection": untrusting})
    plain = {**untrusting, "secure": False}
    with pytest.raises(InvalidResponseError, match="HTTP request to an HTTPS server"):
        BucketProvider().create({"name": "never", "policy": None, "connection": plain})
    assert not BucketProvider().read("never", {"connection": tls_server}).id
