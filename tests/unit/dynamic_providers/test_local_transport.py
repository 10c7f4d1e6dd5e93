"""LocalTransport writes a file with its mode from the first byte: whoever could read the old
file (or holds it open) never sees the new content."""

import os
import stat

from dynamic_providers.transport import LocalTransport


def test_write_and_upload_replace_a_wider_file_instead_of_filling_it(tmp_path):
    for how in ("write", "upload"):
        path = tmp_path / f"{how}.key"
        path.write_text("old, world-readable\n")
        path.chmod(0o644)
        with open(path) as held:  # opened while it was readable
            source = tmp_path / "secret.src"
            source.write_text("SECRET\n")
            with LocalTransport() as t:
                if how == "write":
                    t.write(str(path), "SECRET\n", mode=0o600)
                else:
                    t.upload(str(source), str(path), mode=0o600)
            assert "SECRET" not in held.read()
        assert path.read_text() == "SECRET\n"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
