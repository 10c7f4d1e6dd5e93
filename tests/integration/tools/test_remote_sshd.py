"""command:remote:Command and command:remote:CopyToRemote against a real OpenSSH server.

A private sshd (Debian's openssh-server, installed by tools/setup/providers.sh) listens on
127.0.0.1:<free port> with a temporary host key and an authorized_keys file holding a key made by
our own tls provider; the resources are driven through the provider servicer.
"""
import subprocess

import pytest
from pulumi.runtime.proto import provider_pb2

from tools.providers import command, tls
from tests.support.sshd import running_sshd
from tests.unit.tools.helpers import Client, expect_abort, is_secret, plain, secret

pytestmark = pytest.mark.integration

REMOTE = command.RemoteCommand.token
COPY = command.CopyToRemote.token


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    client_key = tls.key_outputs(tls.generate_key("ED25519"))
    with running_sshd(tmp_path_factory.mktemp("sshd"), client_key["publicKeyOpenssh"]) as server:
        yield {**server, "key": client_key}


@pytest.fixture
def c():
    return Client(command.make_servicer())


def conn(sshd, **kw):
    return {"host": "127.0.0.1", "port": sshd["port"], "user": "root",
            "privateKey": sshd["key"]["privateKeyOpenssh"], "dialErrorLimit": 2, **kw}


def test_remote_command_lifecycle(c, sshd, tmp_path):
    trace = tmp_path / "deleted"
    inputs, failures = c.check(REMOTE, {
        "connection": secret(conn(sshd, hostKey=sshd["host_key"])),
        "create": "echo \"created $GREETING $(cat)\"; echo to-stderr >&2",
        "update": "echo \"updated after: $PULUMI_COMMAND_STDOUT\"",
        "delete": f"echo \"$PULUMI_COMMAND_STDOUT\" > {trace}",
        "environment": {"GREETING": "it's me"}, "stdin": "piped"})
    assert failures == []
    id_, outs = c.create(REMOTE, inputs, name="remote")
    assert id_.startswith("remote")
    assert is_secret(outs["connection"])
    # the connection is secret, so (as upstream's infer) every output is
    assert plain(outs["stdout"]) == "created it's me piped"
    assert plain(outs["stderr"]) == "to-stderr"
    news = {**inputs, "environment": {"GREETING": "again"}}
    d = c.diff(REMOTE, outs, news, inputs)
    assert list(d.diffs) == ["environment"] and list(d.replaces) == []
    outs2 = c.update(REMOTE, outs, news, old_inputs=inputs)
    assert plain(outs2["stdout"]) == "updated after: created it's me piped"
    c.delete(REMOTE, id_, outs2)
    assert trace.read_text() == "updated after: created it's me piped\n"


def test_remote_command_failure(c, sshd):
    inputs = c.checked(REMOTE, {"connection": conn(sshd), "create": "echo no; exit 4"})
    msg = expect_abort(c.create, REMOTE, inputs)
    assert "Process exited with status 4" in msg and "no" in msg


def test_wrong_host_key_is_refused(c, sshd):
    other = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(sshd["dir"] / "other")],
                           check=True)
    assert other.returncode == 0
    wrong = (sshd["dir"] / "other.pub").read_text().strip()
    inputs = c.checked(REMOTE, {"connection": conn(sshd, hostKey=wrong), "create": "true"})
    assert "host key mismatch" in expect_abort(c.create, REMOTE, inputs)


def test_unauthorized_key_fails_after_dial_limit(c, sshd):
    stranger = tls.key_outputs(tls.generate_key("RSA"))
    inputs = c.checked(REMOTE, {"connection": conn(sshd, privateKey=stranger["privateKeyPem"], dialErrorLimit=1),
                                "create": "true"})
    msg = expect_abort(c.create, REMOTE, inputs)
    assert "after 1 failed attempts" in msg and "Authentication failed" in msg


def test_through_a_proxy(c, sshd):
    # jump through the same sshd to itself
    inputs = c.checked(REMOTE, {"connection": conn(sshd, proxy=conn(sshd)), "create": "echo via proxy"})
    _, outs = c.create(REMOTE, inputs)
    assert plain(outs["stdout"]) == "via proxy"


def test_copy_to_remote(c, sshd, tmp_path):
    from tools.providers._base import ARCHIVE_SIG, ASSET_SIG, SIG_KEY
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("nested")
    single = tmp_path / "one.conf"
    single.write_text("v1")
    dest = tmp_path / "remote"

    inputs = c.checked(COPY, {"connection": conn(sshd), "remotePath": str(dest / "etc" / "one.conf"),
                              "source": {SIG_KEY: ASSET_SIG, "path": str(single), "hash": "h1"}})
    id_, outs = c.create(COPY, inputs)
    assert id_ and (dest / "etc" / "one.conf").read_text() == "v1"
    assert is_secret(outs["connection"])

    single.write_text("v2")
    news = {**inputs, "source": {SIG_KEY: ASSET_SIG, "path": str(single), "hash": "h2"}}
    assert list(c.diff(COPY, outs, news, inputs).replaces) == []
    c.update(COPY, outs, news, old_inputs=inputs)
    assert (dest / "etc" / "one.conf").read_text() == "v2"

    inputs = c.checked(COPY, {"connection": conn(sshd), "remotePath": str(dest / "www"),
                              "source": {SIG_KEY: ARCHIVE_SIG, "path": str(src)}})
    c.create(COPY, inputs)
    assert (dest / "www" / "src" / "sub" / "f.txt").read_text() == "nested"

    inputs = c.checked(COPY, {"connection": conn(sshd), "remotePath": str(dest / "motd"),
                              "source": {SIG_KEY: ASSET_SIG, "text": "welcome"}})
    c.create(COPY, inputs)
    assert (dest / "motd").read_text() == "welcome"


def test_remote_timeout(c, sshd):
    from tests.unit.tools.helpers import Aborted, _wire, urn
    inputs = c.checked(REMOTE, {"connection": conn(sshd), "create": "echo begun; sleep 60"})
    req = provider_pb2.CreateRequest(urn=urn(REMOTE, "slow"), type=REMOTE, name="slow", properties=_wire(inputs),
                                     timeout=1)
    with pytest.raises(Aborted) as ei:
        c.s.Create(req, c.ctx)
    assert "timed out" in ei.value.details and "sleep 60" in ei.value.details
