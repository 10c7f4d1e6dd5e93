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


def fake_dist(tmp_path, stanzas: dict[str, str]):
    """A dist folder whose effective lock pins `stanzas` (package -> its stanza fields) for
    linux-amd64, each fetched as an empty stand-in."""
    pins = [debs.Pin("linux-amd64", name, "1.0", f"{i:064x}", 1, "all")
            for i, name in enumerate(sorted(stanzas))]
    debs.write_lock(pins, tmp_path / "debian.lock")
    pool = debs.debs_dir(tmp_path, "linux-amd64")
    pool.mkdir(parents=True)
    for pin in pins:
        (pool / pin.filename).write_bytes(pin.package.encode())
        (pool / f"{pin.filename}.stanza").write_text(f"Package: {pin.package}\n{stanzas[pin.package]}")
    return tmp_path


STANZAS = {
    "dnsmasq-base": "Depends: libc6 (>= 2.34), libnetfilter-conntrack3 | libfoo\n",
    "libc6": "Pre-Depends: libgcc-s1\n",
    "libgcc-s1": "",
    "libnetfilter-conntrack3": "Depends: libnfnetlink0:any\n",
    "libnfnetlink0": "",
    "netboot": "",                                   # what only the DNS host needs
    "python3-venv": "Depends: python3-virtualenv-ish, mail-transport-agent\n",
    "postfix": "Provides: mail-transport-agent, default-mta\n",
    "python3-virtualenv-ish": "",
}


def test_a_hosts_repository_holds_its_packages_and_their_dependencies_only(tmp_path):
    dist = fake_dist(tmp_path, STANZAS)
    names = {p.package for p in debs.closure(dist, "linux-amd64", ["dnsmasq-base"])}
    assert names == {"dnsmasq-base", "libc6", "libgcc-s1", "libnetfilter-conntrack3", "libnfnetlink0"}
    # A virtual package is met by the pin that provides it.
    names = {p.package for p in debs.closure(dist, "linux-amd64", ["python3-venv"])}
    assert names == {"python3-venv", "python3-virtualenv-ish", "postfix"}
    small, _ = debs.repo(dist, "linux-amd64", ["dnsmasq-base"])
    whole, _ = debs.repo(dist, "linux-amd64")
    import tarfile
    with tarfile.open(small) as tar:
        pool = {m.name for m in tar.getmembers() if m.name.startswith("pool/")}
        index = tar.extractfile("Packages").read().decode()
    assert len(pool) == 5 and "netboot" not in index and "Package: libnfnetlink0" in index
    with tarfile.open(whole) as tar:
        assert len([m for m in tar.getmembers() if m.name.startswith("pool/")]) == len(STANZAS)


def test_a_package_nobody_pinned_is_named():
    import pytest
    with pytest.raises(KeyError, match="lynx is not pinned for linux-amd64"):
        debs.closure(debs.ROOT / ".tools" / "dist", "linux-amd64", ["lynx"])


def test_an_architecture_independent_package_is_fetched_once_for_both_platforms(tmp_path):
    dist = fake_dist(tmp_path, {"netboot": ""})
    pin = debs.pins_of(dist, "linux-amd64")[0]
    from tools.dist.manifest import sha256_of
    arm = debs.Pin("linux-arm64", pin.package, pin.version,
                   sha256_of(debs.debs_dir(dist, "linux-amd64") / pin.filename), 1, "all")
    debs.debs_dir(dist, "linux-arm64").mkdir(parents=True)
    debs._share(dist, "linux-arm64", arm)
    shared = debs.debs_dir(dist, "linux-arm64") / arm.filename
    assert shared.read_bytes() == b"netboot"
    assert shared.with_name(f"{arm.filename}.stanza").read_text().startswith("Package: netboot")
    # A file that does not match the pin's sha256 is not taken.
    other = debs.Pin("linux-arm64", "netboot", "1.0", "f" * 64, 1, "all")
    shared.unlink()
    debs._share(dist, "linux-arm64", other)
    assert not shared.exists()
