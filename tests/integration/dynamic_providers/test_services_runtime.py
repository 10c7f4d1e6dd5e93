"""The services on a host (a real sshd): the environment and the bundle delivered, made into a
venv of the host's python3 with no pip run there, runs `python -m services...`; a removed venv is
seen by read; a host with another Python is refused by name; both tars are deterministic."""

import hashlib
import io
import os
import subprocess
import tarfile

import dill
import pytest

from dynamic_providers.artifact import ArtifactProvider
from dynamic_providers.services_runtime import ServicesRuntimeProvider, python_of, source_of
from tests.support.paths import ROOT
from tests.support.sshd import sshd_connection
from tools.dist import bundle

pytestmark = pytest.mark.integration
DIST = ROOT / ".tools" / "dist"


@pytest.fixture(scope="module")
def connection(tmp_path_factory):
    with sshd_connection(tmp_path_factory.mktemp("sshd")) as conn:
        yield conn


@pytest.fixture(scope="module")
def amd64_bundle():
    if not (bundle.wheels_dir(DIST, "linux-amd64") / ".complete").exists():
        pytest.fail("no services wheels: run tools/bootstrap")
    return bundle.build(DIST, "linux-amd64"), bundle.environment(DIST, "linux-amd64")


def test_the_tars_are_the_same_bytes_each_time(amd64_bundle, tmp_path):
    (path, sha), (env_path, env_sha) = amd64_bundle
    assert bundle.build(DIST, "linux-amd64") == (path, sha)
    # The environment made anew (pip again, from the same wheels) is the same bytes.
    other = tmp_path / "dist"
    (other / "wheels").mkdir(parents=True)
    wheels = bundle.wheels_dir(DIST, "linux-amd64")
    (other / "wheels" / wheels.name).symlink_to(wheels)
    assert bundle.environment(other, "linux-amd64")[1] == env_sha


def delivered(connection, host, source, sha, name):
    return ArtifactProvider().create({"connection": connection, "artifact": name,
                                      "source": str(source), "sha256": sha, "mode": "0644",
                                      "path": str(host / "opt/mammatus/dist" / name)}).id


def test_install_run_drift_and_remove(connection, tmp_path, amd64_bundle):
    (source, sha), (env_source, env_sha) = amd64_bundle
    host = tmp_path / "host"
    provider = dill.loads(dill.dumps(ServicesRuntimeProvider(), recurse=True))
    root = str(host / "opt/mammatus/services")
    props = provider.check({}, {"connection": connection, "root": root, "python": "/usr/bin/python3",
                                "bundle": delivered(connection, host, source, sha, "bundle.tar"),
                                "sha256": sha, "environment_sha256": env_sha,
                                "environment": delivered(connection, host, env_source, env_sha,
                                                         "environment.tar.gz")}).inputs
    created = provider.create(props)
    python = created.outs["python_path"]
    assert python == python_of(root, env_sha) and os.access(python, os.X_OK)
    # The host's own venv runs the service modules, importing only what the bundle brought.
    out = subprocess.run(
        [python, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "import aiohttp, nats, pydantic, yaml, botocore, cryptography; "
         "import services.metadata.__main__, services.sqs.api, services.sns.api; print('ok')",
         source_of(root, sha)], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    assert provider.read(created.id, created.outs).id == root

    subprocess.run(["rm", "-rf", os.path.dirname(os.path.dirname(python))], check=True)
    assert provider.read(created.id, created.outs).id is None    # refresh: gone
    provider.create(props)                                        # up: made again
    assert os.access(python, os.X_OK)
    provider.delete(root, props)
    assert not os.path.exists(os.path.join(root, "releases"))
    assert not os.path.exists(os.path.join(root, "environments"))


def test_a_host_with_another_python_is_refused_naming_both(connection, tmp_path, amd64_bundle):
    (source, sha), _ = amd64_bundle
    host = tmp_path / "host"
    # An environment made for another Python than the host's python3.
    env = tmp_path / "env.tar.gz"
    with tarfile.open(env, "w:gz") as tar:
        info = tarfile.TarInfo("python-version")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"3.99\n"))
        site = tarfile.TarInfo("site-packages")
        site.type = tarfile.DIRTYPE
        tar.addfile(site)
    env_sha = hashlib.sha256(env.read_bytes()).hexdigest()
    provider = ServicesRuntimeProvider()
    props = provider.check({}, {"connection": connection, "root": str(host / "srv"),
                                "python": "/usr/bin/python3", "sha256": sha, "environment_sha256": env_sha,
                                "bundle": delivered(connection, host, source, sha, "b.tar"),
                                "environment": delivered(connection, host, env, env_sha, "e.tar.gz")}).inputs
    with pytest.raises(Exception, match=r"for Python 3\.99; /usr/bin/python3 on this host is Python 3\.11"):
        provider.create(props)
