"""Mammatus' own services as one hash-checked bundle per platform: a tar of

    requirements.lock     requirements-services.lock (every wheel pinned by sha256)
    wheels/*.whl          those wheels for the platform (tools/bootstrap downloads them)
    src/services/...      the services' source (what `python -m services.<name>` runs)

built deterministically (sorted names, mtime 0, root-owned, no compression), so the same inputs
give the same sha256 and an unchanged bundle is never delivered again. The host makes a venv
from it with `pip install --no-index --require-hashes` (dynamic_providers/services_runtime.py).

    python -m tools.dist.bundle download DIST PLATFORM   # bootstrap: the platform's wheels
    python -m tools.dist.bundle build DIST PLATFORM      # prints the bundle's path

`build` runs at every preview/up (components/delivery.py), so a change to services/ is in the
next deployment without a bootstrap.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-services.lock"
SOURCE = ROOT / "services"
NAME = "mammatus-services"
# pip's platform tags for each platform (the oldest manylinux that carries every wheel first).
PIP_PLATFORMS = {
    "linux-amd64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"),
    "linux-arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"),
}
KEEP = 3                  # bundles kept per platform in DIST/bundles
PYTHON_VERSION = "3.11"   # Debian 12's python3; the hosts' venvs are made with it


def lock_digest() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]


def wheels_dir(dist: Path, platform: str) -> Path:
    return dist / "wheels" / f"{platform}-{lock_digest()}"


def download(dist: Path, platform: str) -> Path:
    """The platform's wheels of the lock, hash-checked by pip; a no-op when already there."""
    target = wheels_dir(dist, platform)
    if (target / ".complete").exists():
        return target
    staging = target.with_name(target.name + ".new")
    subprocess.run(["rm", "-rf", str(staging)], check=True)
    platforms = [arg for tag in PIP_PLATFORMS[platform] for arg in ("--platform", tag)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--require-hashes", "--only-binary=:all:", *platforms,
                    "--python-version", PYTHON_VERSION, "--implementation", "cp",
                    "-d", str(staging), "-r", str(LOCK)], check=True)
    (staging / ".complete").write_text("")
    subprocess.run(["rm", "-rf", str(target)], check=True)
    os.replace(staging, target)
    return target


def _files(wheels: Path) -> list[tuple[str, Path]]:
    files = [("requirements.lock", LOCK)]
    files += [(f"wheels/{w.name}", w) for w in sorted(wheels.glob("*.whl"))]
    for path in sorted(SOURCE.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files.append((f"src/{path.relative_to(SOURCE.parent).as_posix()}", path))
    return files


def tar_bytes(wheels: Path) -> bytes:
    if not (wheels / ".complete").exists():
        raise FileNotFoundError(f"no wheels in {wheels}: run tools/bootstrap")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in _files(wheels):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def build(dist: Path, platform: str) -> tuple[Path, str]:
    """(bundle path, sha256): the tar written once under a name holding its digest."""
    data = tar_bytes(wheels_dir(dist, platform))
    sha = hashlib.sha256(data).hexdigest()
    path = dist / "bundles" / f"{NAME}-{sha[:16]}-{platform}.tar"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".new")
        staging.write_bytes(data)
        os.replace(staging, path)
    os.utime(path)
    # Only the newest few stay: a bundle is read when it is delivered, never after.
    older = sorted(path.parent.glob(f"{NAME}-*-{platform}.tar"), key=lambda p: p.stat().st_mtime)
    for stale in older[:-KEEP]:
        stale.unlink()
    return path, sha


if __name__ == "__main__":
    verb, dist_arg, platform_arg = sys.argv[1:4]
    if verb == "download":
        print(download(Path(dist_arg), platform_arg))
    elif verb == "build":
        print(build(Path(dist_arg), platform_arg)[0])
    else:
        sys.exit(f"unknown verb {verb!r} (download, build)")
