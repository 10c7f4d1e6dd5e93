from dynamic_providers.local_dir import LocalDirectoryProvider, normalize


def plan_diff(olds, news):
    return LocalDirectoryProvider().diff("d", olds, news)


def test_normalize_fills_the_default_mode():
    inputs, failures = normalize({"path": "/srv/x/"})
    assert inputs == {"path": "/srv/x", "mode": "0755"} and failures == []


def test_normalize_rejects_relative_paths_and_bad_modes():
    _, failures = normalize({"path": "x", "mode": "rwx"})
    assert {f.property for f in failures} == {"path", "mode"}


def test_a_new_path_replaces_and_a_new_mode_updates():
    old = {"path": "/a", "mode": "0755"}
    assert plan_diff(old, {"path": "/b", "mode": "0755"}).replaces == ["path"]
    mode_only = plan_diff(old, {"path": "/a", "mode": "0700"})
    assert mode_only.changes and mode_only.replaces == []
    assert not plan_diff(old, dict(old)).changes
