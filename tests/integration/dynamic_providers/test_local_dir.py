import os

import dill

from dynamic_providers.local_dir import LocalDirectoryProvider


def test_create_read_update_delete_on_the_real_filesystem(tmp_path):
    provider = LocalDirectoryProvider()
    path = str(tmp_path / "run")
    inputs = provider.check({}, {"path": path, "mode": "0750"}).inputs

    created = provider.create(inputs)
    assert created.id == path and os.path.isdir(path)
    assert oct(os.stat(path).st_mode & 0o7777) == "0o750"

    os.chmod(path, 0o700)  # drift made by hand
    read = provider.read(created.id, created.outs)
    assert read.outs["mode"] == "0700" and read.inputs["mode"] == "0700"
    assert provider.diff(created.id, read.inputs, inputs).changes

    provider.update(created.id, read.outs, inputs)
    assert oct(os.stat(path).st_mode & 0o7777) == "0o750"

    provider.delete(created.id, inputs)
    assert not os.path.exists(path)
    assert provider.read(created.id, inputs).id is None


def test_provider_survives_the_pickling_pulumi_does(tmp_path):
    clone = dill.loads(dill.dumps(LocalDirectoryProvider(), recurse=True))
    created = clone.create({"path": str(tmp_path / "p"), "mode": "0755"})
    assert os.path.isdir(created.id)


def test_delete_removes_the_parents_it_made_and_only_those(tmp_path):
    provider = LocalDirectoryProvider()
    (tmp_path / "kept").mkdir()
    path = tmp_path / "kept" / "a" / "b" / "run"
    created = provider.create({"path": str(path), "mode": "0711"})
    assert created.outs["created_parents"] == [str(tmp_path / "kept" / "a" / "b"), str(tmp_path / "kept" / "a")]
    refreshed = provider.read(created.id, created.outs).outs        # survives a refresh
    provider.delete(created.id, refreshed)
    assert not (tmp_path / "kept" / "a").exists() and (tmp_path / "kept").is_dir()

    # a parent someone else has put files in stays
    created = provider.create({"path": str(path), "mode": "0711"})
    (tmp_path / "kept" / "a" / "theirs").write_text("x")
    provider.delete(created.id, created.outs)
    assert not (tmp_path / "kept" / "a" / "b").exists() and (tmp_path / "kept" / "a" / "theirs").exists()
