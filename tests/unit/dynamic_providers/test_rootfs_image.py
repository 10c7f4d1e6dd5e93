"""The image recipe, its cache name and its checks (the build itself: tests/integration)."""

from dynamic_providers import rootfs_image as ri


def test_the_recipe_names_the_tarball_and_any_change_renames_it():
    base = {**ri.recipe(), "cache_dir": "/c"}
    path = ri.tarball_path(base)
    assert path.startswith("/c/debian-bookworm-cloudinit-lxd-") and path.endswith(".tar")
    assert ri.tarball_path({**base, "packages": list(reversed(base["packages"]))}) == path
    assert ri.tarball_path({**base, "packages": base["packages"] + ["curl"]}) != path
    assert ri.tarball_path({**base, "cloud_cfg": ri.nocloud_cfg("http://10.0.0.1/")}) != path


def test_cloud_init_is_told_only_about_the_metadata_service():
    text = ri.nocloud_cfg()
    assert "datasource_list: [NoCloud, None]" in text
    assert "seedfrom: http://169.254.169.254/nocloud/" in text


def test_debootstrap_from_apts_mirror_with_the_packages(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert ri.apt_mirror(str(tmp_path / "d"), str(tmp_path / "none")) == "http://mirror.example/debian"
    (tmp_path / "list").write_text("deb [arch=amd64] http://m.example/debian/ bookworm main\n")
    assert ri.apt_mirror(str(tmp_path / "empty"), str(tmp_path / "list")) == "http://m.example/debian"
    argv = ri.debootstrap_argv(ri.recipe(), "/r", "http://m/debian")
    assert argv[:2] == ["debootstrap", "--variant=minbase"] and argv[-3:] == ["bookworm", "/r", "http://m/debian"]
    assert {"cloud-init", "openssh-server", "python3-cffi-backend", "dbus"} <= set(argv[2].split("=")[1].split(","))


def test_check_names_the_bad_property():
    ok = ri.recipe()
    assert ri.check_props(ok) == []
    bad = {f.property for f in ri.check_props({**ok, "suite": "Bookworm 12", "packages": ["dbus"]})}
    assert bad == {"suite", "packages"}
    no_source = {f.property for f in ri.check_props({**ok, "cloud_cfg": ""})}
    assert no_source == {"cloud_cfg"}       # cloud-init with no datasource


def test_a_host_image_has_no_cloud_init_to_replace_its_pinned_host_keys():
    host = ri.host_recipe()
    assert ri.check_props(host) == []
    assert "cloud-init" not in host["packages"] and host["cloud_cfg"] == ""
    assert {"openssh-server", "systemd", "python3"} <= set(host["packages"])
    assert ri.tarball_path(host) != ri.tarball_path(ri.recipe())


def test_only_a_recipe_change_replaces_it():
    provider = ri.RootfsImageProvider()
    olds = {**ri.recipe(), "cache_dir": "/c", "path": "/c/x.tar", "sha256": "ab", "size": 1}
    assert not provider.diff("id", olds, {**ri.recipe(), "cache_dir": "/c", "path": None}).changes
    changed = provider.diff("id", olds, {**ri.recipe(suite="trixie"), "cache_dir": "/c"})
    assert changed.changes and changed.replaces == ["suite"]
