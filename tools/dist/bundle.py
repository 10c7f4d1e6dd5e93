"""Mammatus' own services as two hash-checked tars per platform:

- the environment (`environment`): requirements-services.lock installed for the platform, here,
  by pip from the wheels tools/bootstrap downloaded (every one pinned by sha256), as
  `site-packages/...` plus `python-version`, gzipped. It changes only with the lock, so it is
  made once per lock and platform, and a host unpacks it into a venv of its own python3
  instead of running pip (the slowest step of a host's first `up` before).
- the bundle (`build`): `src/services/...`, the services' source (what `python -m
  services.<name>` runs) and the lock it was written against. It is made at every preview/up
  (components/delivery.py), so a change to services/ is in the next deployment without a
  bootstrap, and it is small.

Both are deterministic (sorted names, mtime 0, root-owned), so the same inputs give the same
sha256 and an unchanged one is never delivered again (dynamic_providers/services_runtime.py).

    python -m tools.dist.bundle download DIST PLATFORM      # bootstrap: wheels, environment
    python -m tools.dist.bundle build DIST PLATFORM         # prints the bundle's path
    python -m tools.dist.bundle environment DIST PLATFORM   # prints the environment's path
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-services.lock"
SOURCE = ROOT / "services"
NAME = "mammatus-services"
ENVIRONMENT = "mammatus-services-environment"
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


def site_dir(dist: Path, platform: str) -> Path:
    return dist / "site" / f"{platform}-{lock_digest()}"


def _pip_platform_args(platform: str) -> list[str]:
    return [*(arg for tag in PIP_PLATFORMS[platform] for arg in ("--platform", tag)),
            "--python-version", PYTHON_VERSION, "--implementation", "cp", "--only-binary=:all:"]


def download(dist: Path, platform: str) -> Path:
    """The platform's wheels of the lock, hash-checked by pip; a no-op when already there."""
    target = wheels_dir(dist, platform)
    if (target / ".complete").exists():
        return target
    staging = target.with_name(target.name + ".new")
    subprocess.run(["rm", "-rf", str(staging)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--require-hashes", *_pip_platform_args(platform),
                    "-d", str(staging), "-r", str(LOCK)], check=True)
    (staging / ".complete").write_text("")
    subprocess.run(["rm", "-rf", str(target)], check=True)
    os.replace(staging, target)
    return target


def install_site(dist: Path, platform: str) -> Path:
    """The lock installed for the platform (pip --target, from the downloaded wheels only,
    hash-checked, no bytecode: the host compiles for itself); a no-op when already there."""
    target = site_dir(dist, platform)
    if (target / ".complete").exists():
        return target
    wheels = wheels_dir(dist, platform)
    if not (wheels / ".complete").exists():
        raise FileNotFoundError(f"no wheels in {wheels}: run tools/bootstrap")
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-index", "--no-deps", "--require-hashes", "--no-compile",
                    *_pip_platform_args(platform), "--find-links", str(wheels),
                    "--target", str(staging), "-r", str(LOCK)], check=True)
    shutil.rmtree(staging / "bin", ignore_errors=True)   # console scripts name this machine's python
    (staging / ".complete").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def _member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info, io.BytesIO(data)


def _source_files() -> list[tuple[str, Path]]:
    files = [("requirements.lock", LOCK)]
    for path in sorted(SOURCE.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files.append((f"src/{path.relative_to(SOURCE.parent).as_posix()}", path))
    return files


def tar_bytes() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in _source_files():
            tar.addfile(*_member(name, path.read_bytes()))
    return out.getvalue()


def _site_files(site: Path) -> list[tuple[str, Path]]:
    found = []
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if path.is_file() and "__pycache__" not in rel.parts and rel.name != ".complete":
            found.append((f"site-packages/{rel.as_posix()}", path))
    return found


def _write_environment(site: Path, path: Path) -> None:
    staging = path.with_name(path.name + ".new")
    with open(staging, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                    mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(*_member("python-version", f"{PYTHON_VERSION}\n".encode()))
        for name, file in _site_files(site):
            executable = os.access(file, os.X_OK)
            tar.addfile(*_member(name, file.read_bytes(), 0o755 if executable else 0o644))
    os.replace(staging, path)


def _keep_newest(folder: Path, pattern: str, newest: Path) -> None:
    """Only the newest few stay: a tar is read when it is delivered, never after."""
    os.utime(newest)
    older = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)
    for stale in older[:-KEEP]:
        stale.unlink()


def environment(dist: Path, platform: str) -> tuple[Path, str]:
    """(environment tar path, sha256), made once per lock and platform."""
    site = install_site(dist, platform)
    path = dist / "bundles" / f"{ENVIRONMENT}-{lock_digest()}-{platform}.tar.gz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_environment(site, path)
    _keep_newest(path.parent, f"{ENVIRONMENT}-*-{platform}.tar.gz", path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return path, digest.hexdigest()


def build(dist: Path, platform: str) -> tuple[Path, str]:
    """(bundle path, sha256): the tar written once under a name holding its digest."""
    data = tar_bytes()
    sha = hashlib.sha256(data).hexdigest()
    path = dist / "bundles" / f"{NAME}-{sha[:16]}-{platform}.tar"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".new")
        staging.write_bytes(data)
        os.replace(staging, path)
    _keep_newest(path.parent, f"{NAME}-*-{platform}.tar", path)
    return path, sha


if __name__ == "__main__":
    verb, dist_arg, platform_arg = sys.argv[1:4]
    if verb == "download":
        print(download(Path(dist_arg), platform_arg))
        environment(Path(dist_arg), platform_arg)
    elif verb == "build":
        print(build(Path(dist_arg), platform_arg)[0])
    elif verb == "environment":
        print(environment(Path(dist_arg), platform_arg)[0])
    else:
        sys.exit(f"unknown verb {verb!r} (download, build, environment)")
