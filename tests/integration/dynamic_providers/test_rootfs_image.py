"""The image provider for real: debootstrap from apt's mirror (or the machine-wide cache a
previous run left), read back, and a delete that keeps the cache. The image's boot in LXD is
tests/integration/services/metadata/test_lxd_e2e.py and the dev stack's e2e test."""

from __future__ import annotations

import os
import shutil
import tarfile

import dill
import pytest

from dynamic_providers import rootfs_image as ri

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not shutil.which("debootstrap"), reason="needs debootstrap (tools/setup/metadata.sh)"),
]


def test_build_read_and_a_delete_that_keeps_the_cache():
    provider = dill.loads(dill.dumps(ri.RootfsImageProvider()))   # as the engine gets it
    props = provider.check({}, {**ri.recipe(), "cache_dir": ri.CACHE_DIR}).inputs
    created = provider.create(props)
    path = created.outs["path"]
    assert path == ri.tarball_path(props) and created.id == ri.recipe_digest(props)
    assert created.outs["sha256"] == ri.sha256_of(path) and created.outs["size"] == os.path.getsize(path)

    with tarfile.open(path) as tar:
        names = set(tar.getnames())
        assert "metadata.yaml" in names
        cfg = tar.extractfile("rootfs/etc/cloud/cloud.cfg.d/90-mammatus.cfg").read().decode()
        assert cfg == ri.nocloud_cfg()
        binfmt = tar.getmember("rootfs/etc/systemd/system/systemd-binfmt.service")
        assert binfmt.issym() and binfmt.linkname == "/dev/null"       # masked
        assert "rootfs/etc/hostname" not in names      # LXD's name for the container stays
        assert "rootfs/usr/lib/locale/locale-archive" in names         # en_US.UTF-8 generated
        assert "rootfs/usr/bin/cloud-init" in names and "rootfs/usr/sbin/sshd" in names

    assert provider.read(created.id, created.outs).outs["sha256"] == created.outs["sha256"]
    provider.delete(created.id, created.outs)
    assert os.path.exists(path)         # the next stack's `up` must not rebuild it
