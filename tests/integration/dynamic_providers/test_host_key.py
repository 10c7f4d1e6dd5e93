"""Host keys pinned on first use, against a real sshd: the provider records the key the server
offers, a connection insists on it, and a server with another key is refused by name."""

import dill
import pytest

from dynamic_providers.host_key import HostKeyPinProvider
from dynamic_providers.transport import SshTransport
from tests.support.sshd import running_sshd, sshd_connection
from tools.ssh import HostKeyMismatch, fingerprint


def test_the_first_key_is_pinned_and_an_impostor_is_refused_naming_both(tmp_path):
    provider = dill.loads(dill.dumps(HostKeyPinProvider(), recurse=True))  # as Pulumi ships it
    (tmp_path / "real").mkdir()
    (tmp_path / "impostor").mkdir()
    with sshd_connection(tmp_path / "real") as conn:
        made = provider.create({"host": "127.0.0.1", "port": conn["port"]})
        pinned = made.outs["key"]
        assert pinned.split()[:2] == conn["host_key"].split()[:2]
        with SshTransport("127.0.0.1", conn["port"], "root", conn["private_key"], pinned) as t:
            assert t.run("echo reached").strip() == "reached"
        # Refresh never asks the host again: the record stands.
        assert provider.read(made.id, made.outs).outs["key"] == pinned
        assert not provider.diff(made.id, made.outs, {"host": "127.0.0.1", "port": conn["port"],
                                                      "key": None}).changes
    # Another machine on the address, with its own key.
    with running_sshd(tmp_path / "impostor", "ssh-ed25519 AAAAunused") as other:
        with pytest.raises(HostKeyMismatch) as e:
            SshTransport("127.0.0.1", other["port"], "root", conn["private_key"], pinned)
        said = str(e.value)
        assert fingerprint(pinned.split()[1]) in said
        assert fingerprint(other["host_key"].split()[1]) in said
