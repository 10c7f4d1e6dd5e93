"""tools/dist/debs.py without a mirror: the lock's format, and what fetch does when the mirror
no longer has a pin (a Debian security update): it re-resolves into DIST/debian.lock, which
then is the lock in force."""

from tools.dist import debs


def test_the_committed_lock_pins_both_platforms_with_sha256():
    pins = debs.read_lock()
    platforms = {p.platform for p in pins}
    assert platforms == {"linux-amd64", "linux-arm64"}
    assert all(len(p.sha256) == 64 and p.size > 0 for p in pins)
    for platform in platforms:
        names = {p.package for p in pins if p.platform == platform}
        assert {"serf", "dnsmasq-base", "lxd", "python3-venv", "iptables"} <= names


def test_a_pool_file_name_follows_debian(tmp_path):
    pin = debs.Pin("linux-arm64", "zlib1g", "1:1.2.13.dfsg-1", "0" * 64, 1)
    assert pin.filename == "zlib1g_1%3a1.2.13.dfsg-1_arm64.deb"
    assert pin.request == "zlib1g:arm64=1:1.2.13.dfsg-1"
    indep = debs.Pin("linux-arm64", "adduser", "3.134", "0" * 64, 1, "all")
    assert indep.filename == "adduser_3.134_all.deb" and indep.request == "adduser=3.134"


def test_stale_pins_are_resolved_again_into_the_effective_lock(tmp_path, monkeypatch, capsys):
    fresh = [debs.Pin("linux-amd64", "serf", "9.9-1", "a" * 64, 10)]
    calls = []

    def fake_fetch(dist, platform):
        calls.append(platform)
        if len(calls) == 1:
            raise debs.StalePins("the mirror no longer has every pinned package")
        return dist
    monkeypatch.setattr(debs, "_fetch", fake_fetch)
    monkeypatch.setattr(debs.AptRoot, "update", lambda self: None)
    monkeypatch.setattr(debs, "resolve", lambda root, packages, platform: fresh)
    assert debs.fetch(tmp_path, "linux-amd64") == tmp_path and calls == ["linux-amd64"] * 2
    assert "WARNING" in capsys.readouterr().err
    assert debs.effective_lock(tmp_path) == tmp_path / "debian.lock"
    assert debs.versions(tmp_path, "linux-amd64", ["serf"]) == {"serf": "9.9-1"}
    # the other platform keeps its committed pins
    arm = debs.versions(tmp_path, "linux-arm64", ["serf"])
    assert arm == {"serf": next(p.version for p in debs.read_lock() if p.platform == "linux-arm64"
                                and p.package == "serf")}
