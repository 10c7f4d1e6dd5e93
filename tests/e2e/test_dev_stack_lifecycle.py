"""`pulumi up`, a second `up` with no changes, and `destroy` of the dev stack with the real CLI,
the project's language host, the provider plugins and a Python dynamic provider."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev(project, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "dev"
    project.set_stack_config("dev", "mammatus:runDir", str(run_dir))
    project.pulumi("stack", "init", "dev")
    project.run_dir = run_dir
    return project


def test_up_creates_every_kind_of_resource(dev):
    up = dev.pulumi("up", "--yes", "--stack", "dev")
    assert "created" in up.stdout
    types = {r["type"] for r in dev.resources()}
    assert {"tls:index/privateKey:PrivateKey", "random:index/randomPassword:RandomPassword",
            "command:local:Command", "pulumi-python:dynamic/mammatus:LocalDirectory",
            "mammatus:core:Foundation", "mammatus:index:Cloud"} <= types

    out = dev.outputs()
    assert out["run_dir"] == str(dev.run_dir) and dev.run_dir.is_dir()
    assert out["admin_public_key"].startswith("ssh-ed25519 ")
    assert Path(out["admin_public_key_file"]).read_text() == out["admin_public_key"]
    assert len(out["admin_password"]) == 24 and out["admin_password"].isalnum()


def test_secrets_are_encrypted_in_the_state(dev):
    password = dev.outputs()["admin_password"]
    state = dev.pulumi("stack", "export", "--stack", "dev").stdout
    assert password not in state
    assert "ciphertext" in state


def test_second_up_changes_nothing(dev):
    again = dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")
    assert "unchanged" in again.stdout


def test_destroy_removes_everything(dev):
    dev.pulumi("destroy", "--yes", "--stack", "dev")
    assert dev.resources() == []
    assert not dev.run_dir.exists()


def test_invalid_config_fails_before_any_resource(dev):
    dev.set_stack_config("dev", "mammatus:runDir", "not/absolute")
    try:
        failed = dev.pulumi("up", "--yes", "--stack", "dev", check=False)
        assert failed.returncode != 0
        assert "mammatus:runDir: must be an absolute path" in failed.stdout + failed.stderr
        # Only the stack's own root may exist: no resource of the cloud was registered.
        assert {r["type"] for r in dev.resources()} <= {"pulumi:pulumi:Stack"}
        assert not dev.run_dir.exists()
    finally:
        dev.set_stack_config("dev", "mammatus:runDir", str(dev.run_dir))
