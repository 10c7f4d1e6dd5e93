"""What tools/bootstrap leaves in .tools/dist for the hosts: every delivered binary for both
architectures, and the services' environment whose compiled modules match the platform —
checked by ELF headers (nothing here can run arm64 code)."""

import json
import tarfile

import pytest

from stacks.artifacts import binaries_of_platform
from tests.support.paths import ROOT
from tools.dist import bundle
from tools.dist.manifest import sha256_of

DIST = ROOT / ".tools" / "dist"
EM_X86_64, EM_AARCH64 = 62, 183
MACHINE = {"linux-amd64": EM_X86_64, "linux-arm64": EM_AARCH64}


def elf_machine(head: bytes) -> int:
    assert head[:4] == b"\x7fELF", "not an ELF file"
    assert head[4] == 2 and head[5] == 1, "not 64-bit little-endian"
    return int.from_bytes(head[18:20], "little")


@pytest.fixture(scope="module")
def manifest():
    path = DIST / "manifest.json"
    if not path.exists():
        pytest.fail("no .tools/dist/manifest.json: run tools/bootstrap --arch arm64")
    return json.loads(path.read_text())


@pytest.mark.parametrize("platform", sorted(MACHINE))
def test_every_binary_is_built_for_its_platform_and_pinned_by_the_manifest(manifest, platform):
    for name in binaries_of_platform(platform):
        path = DIST / platform / name
        with open(path, "rb") as f:
            assert elf_machine(f.read(64)) == MACHINE[platform], f"{platform}/{name}"
        assert manifest[platform][name]["sha256"] == sha256_of(path)


@pytest.mark.parametrize("platform", sorted(MACHINE))
def test_the_services_environment_carries_the_platforms_compiled_modules(platform):
    path, _ = bundle.environment(DIST, platform)
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert tar.extractfile("python-version").read().decode().strip() == bundle.PYTHON_VERSION
        assert "site-packages/aiohttp/__init__.py" in names
        compiled = 0
        for member in tar.getmembers():
            if member.name.endswith(".so"):
                assert elf_machine(tar.extractfile(member).read(64)) == MACHINE[platform], member.name
                compiled += 1
        assert compiled >= 5    # pydantic-core, cryptography, aiohttp, yarl, pyyaml ...
        assert not any(n.startswith("site-packages/bin/") or "__pycache__" in n for n in names)
    source, _ = bundle.build(DIST, platform)
    with tarfile.open(source) as tar:
        names = tar.getnames()
        assert "requirements.lock" in names and "src/services/metadata/__main__.py" in names
        assert not any(n.endswith(".whl") for n in names)
