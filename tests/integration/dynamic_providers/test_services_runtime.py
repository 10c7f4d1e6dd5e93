"""The services bundle on a host (a real sshd): delivered, made into a venv with pip
--no-index --require-hashes from its own wheels, runs `python -m services...`; a removed venv is
seen by read; the bundle is deterministic."""

import os
import subprocess

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
    return bundle.build(DIST, "linux-amd64")


def test_the_bundle_is_the_same_bytes_each_time(amd64_bundle):
    path, sha = amd64_bundle
    assert bundle.build(DIST, "linux-amd64") == (path, sha)


def test_install_run_drift_and_remove(connection, tmp_path, amd64_bundle):
    source, sha = amd64_bundle
    host = tmp_path / "host"
    copy = ArtifactProvider().create({"connection": connection, "artifact": "bundle",
                                      "source": str(source), "sha256": sha, "mode": "0644",
                                      "path": str(host / "opt/mammatus/dist/bundle.tar")})
    provider = dill.loads(dill.dumps(ServicesRuntimeProvider(), recurse=True))
    root = str(host / "opt/mammatus/services")
    props = provider.check({}, {"connection": connection, "bundle": copy.id, "sha256": sha,
                                "root": root, "python": "/usr/bin/python3"}).inputs
    created = provider.create(props)
    python = created.outs["python_path"]
    assert python == python_of(root, sha) and os.access(python, os.X_OK)
    # The host's own venv runs the service modules, importing only what the bundle brought.
    out = subprocess.run(
        [python, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "import aiohttp, nats, pydantic, yaml, botocore, cryptography; "
         "import services.metadata.__main__, services.sqs.api, services.sns.api; print('ok')",
         source_of(root, sha)], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    assert not os.path.exists(os.path.join(root, "releases", sha[:16], "wheels"))
    assert provider.read(created.id, created.outs).id == root

    subprocess.run(["rm", "-rf", os.path.dirname(os.path.dirname(python))], check=True)
    assert provider.read(created.id, created.outs).id is None    # refresh: gone
    provider.create(props)                                        # up: made again
    assert os.access(python, os.X_OK)
    provider.delete(root, props)
    assert not os.path.exists(os.path.join(root, "releases"))
