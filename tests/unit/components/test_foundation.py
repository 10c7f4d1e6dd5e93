import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.foundation import Foundation  # noqa: E402
from stacks.spec import StackSpec  # noqa: E402

SPEC = StackSpec(runDir="/var/lib/mammatus/test")


@pytest.fixture(scope="module")
def foundation():
    return Foundation("t", SPEC)


def settled(foundation):
    """An output that resolves once every child of the component is registered."""
    return pulumi.Output.all(foundation.urn, foundation.admin_public_key,
                             foundation.admin_password, foundation.admin_public_key_file,
                             foundation.run_dir)


@pulumi.runtime.test
def test_admin_key_is_ed25519_and_the_component_is_typed(foundation):
    def check(args):
        urn, public_key = args[0], args[1]
        assert urn.endswith("mammatus:core:Foundation::t")
        key = MOCKS.named("t-admin-ssh")
        assert key.typ == "tls:index/privateKey:PrivateKey"
        assert key.inputs["algorithm"] == "ED25519"
        assert public_key.startswith("ssh-ed25519 ")
    return settled(foundation).apply(check)


@pulumi.runtime.test
def test_password_is_generated_secret_and_long(foundation):
    def check(args):
        value, secret = args
        password = MOCKS.named("t-admin-password")
        assert password.inputs["length"] == 24 and password.inputs["special"] is False
        assert len(value) == 24 and secret
    return pulumi.Output.all(foundation.admin_password,
                             pulumi.Output.is_secret(foundation.admin_password)).apply(check)


@pulumi.runtime.test
def test_public_key_is_published_into_the_run_dir(foundation):
    def check(args):
        assert args[3] == "/var/lib/mammatus/test/admin_ed25519.pub"
        publish = MOCKS.named("t-admin-public-key")
        assert publish.typ == "command:local:Command"
        assert "/var/lib/mammatus/test/admin_ed25519.pub" in publish.inputs["create"]
        assert publish.inputs["delete"].startswith("rm -f ")
        assert publish.inputs["stdin"] == "ssh-ed25519 AAAAmock"
        run_dir = MOCKS.named("t-run-dir")
        assert (run_dir.inputs["path"], run_dir.inputs["mode"]) == ("/var/lib/mammatus/test", "0711")
    return settled(foundation).apply(check)
