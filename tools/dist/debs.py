"""The Debian packages Mammatus installs on hosts, pinned and served by Mammatus itself, so a
host with no internet (the dev hosts, an air-gapped home LAN) installs them all the same.

    tools/debian.lock                      committed: `platform package version sha256 size`, the
                                           whole dependency closure of stacks/artifacts.py's
                                           DEBIAN_PACKAGES, per platform
    .tools/dist/debs/<platform>/*.deb      what bootstrap downloaded, each checked against the lock
    .tools/dist/bundles/debian-<digest>-<platform>.tar
                                           a flat apt repository (Packages + pool/), made from
                                           those files deterministically and delivered to hosts

    python -m tools.dist.debs lock                  # re-pin (after a Debian point release)
    python -m tools.dist.debs fetch DIST PLATFORM   # bootstrap: download and check
    python -m tools.dist.debs repo DIST PLATFORM    # prints the repository tar's path

Debian's mirror keeps only the newest version of a package: after a security update a pin
cannot be downloaded any more. Then `fetch` says so loudly, resolves that platform's packages
again from the signed indexes and records what it took in `DIST/debian.lock` (the effective
lock, which everything here reads when it exists), so a fresh machine still bootstraps;
`lock` and a commit bring tools/debian.lock up to date.

Resolution and downloads use a private apt root (its own lists, an empty dpkg status, the
target architecture) with this machine's Debian sources and keyring: apt verifies the mirror's
signed indexes, and the lock's sha256 comes from them. This machine's own apt state is never
touched.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from tools.dist.manifest import sha256_of

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "tools" / "debian.lock"
PLATFORMS = ("linux-amd64", "linux-arm64")
NAME = "debian"


@dataclass(frozen=True, order=True)
class Pin:
    platform: str
    package: str
    version: str
    sha256: str
    size: int

    @property
    def arch(self) -> str:
        return self.platform.split("-", 1)[1]

    @property
    def filename(self) -> str:
        # Debian's pool name: the epoch's ":" as "%3a" (as apt names downloads).
        return f"{self.package}_{self.version.replace(':', '%3a')}_{self.arch_of_file}.deb"

    @property
    def request(self) -> str:
        """How apt names this exact package: name[:arch]=version."""
        qualifier = "" if self.arch_of_file == "all" else f":{self.arch}"
        return f"{self.package}{qualifier}={self.version}"

    @property
    def arch_of_file(self) -> str:
        return self._file_arch or self.arch

    _file_arch: str = ""        # "all" for architecture-independent packages


def read_lock(path: Path = LOCK) -> list[Pin]:
    pins = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        platform, package, version, arch, sha256, size = line.split()
        pins.append(Pin(platform, package, version, sha256, int(size), arch if arch == "all" else ""))
    return sorted(pins)


def write_lock(pins: list[Pin], path: Path = LOCK) -> None:
    lines = ["# Debian packages Mammatus delivers to hosts (python -m tools.dist.debs lock):",
             "# platform package version file-arch sha256 size"]
    lines += [f"{p.platform} {p.package} {p.version} {p.arch_of_file} {p.sha256} {p.size}"
              for p in sorted(pins)]
    path.write_text("\n".join(lines) + "\n")


class AptRoot:
    """A private apt for one architecture, with this machine's Debian sources."""

    def __init__(self, where: Path, arch: str):
        where = Path(where).resolve()      # apt runs in other folders (downloads)
        self.dir, self.arch = where, arch
        for sub in ("etc/apt/sources.list.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial",
                    "var/cache/apt/archives/partial", "var/lib/dpkg"):
            (where / sub).mkdir(parents=True, exist_ok=True)
        (where / "var/lib/dpkg/status").touch()
        for source in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
            shutil.copy(source, where / "etc/apt/sources.list.d" / source.name)
        if Path("/etc/apt/sources.list").exists():
            shutil.copy("/etc/apt/sources.list", where / "etc/apt/sources.list")

    def options(self) -> list[str]:
        d = self.dir
        return ["-o", f"Dir={d}", "-o", f"Dir::State::status={d}/var/lib/dpkg/status",
                "-o", "Dir::Etc::Trusted=/etc/apt/trusted.gpg",
                "-o", "Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d",
                "-o", f"APT::Architecture={self.arch}", "-o", f"APT::Architectures::={self.arch}",
                "-o", "Debug::NoLocking=1", "-qq"]

    def apt(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(["apt-get", *self.options(), *args], check=True, text=True,
                              capture_output=True, cwd=cwd).stdout

    def update(self) -> None:
        self.apt("update")

    def stanzas(self, wanted: list[str]) -> dict[tuple[str, str, str], dict[str, str]]:
        """(package, version, architecture) -> its stanza from the signed indexes, for each
        `name=version` wanted (apt-cache reads the indexes however apt stored them)."""
        out = subprocess.run(["apt-cache", *self.options(), "show", *wanted], check=True,
                             text=True, capture_output=True).stdout
        found = {}
        for block in out.split("\n\n"):
            fields = parse_stanza(block)
            if "Package" in fields:
                found.setdefault((fields["Package"], fields["Version"], fields["Architecture"]), fields)
        return found


def parse_stanza(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


URI = re.compile(r"^'[^']+' (?P<file>\S+) (?P<size>\d+) ")


def resolve(root: AptRoot, packages: list[str], platform: str) -> list[Pin]:
    """The closure apt would install on an empty system: every package with its version."""
    out = root.apt("install", "--print-uris", "--no-install-recommends", *packages)
    files = [(unquote(m["file"])[:-4].split("_"), int(m["size"]))
             for m in map(URI.match, out.splitlines()) if m]
    index = root.stanzas([Pin(platform, name, version, "", 0, "all" if arch == "all" else "").request
                          for (name, version, arch), _ in files])
    pins = []
    for (name, version, arch), size in files:
        stanza = index[(name, version, arch)]
        pins.append(Pin(platform, name, version, stanza["SHA256"], size,
                        "all" if arch == "all" else ""))
    return sorted(pins)


def lock(packages: list[str], work: Path) -> list[Pin]:
    pins = []
    for platform in PLATFORMS:
        root = AptRoot(work / platform, platform.split("-", 1)[1])
        root.update()
        pins += resolve(root, packages, platform)
    write_lock(pins)
    return pins


def debs_dir(dist: Path, platform: str) -> Path:
    return dist / "debs" / platform


def effective_lock(dist: Path) -> Path:
    """The lock in force: DIST/debian.lock once fetch had to re-resolve, else tools/debian.lock."""
    local = Path(dist) / "debian.lock"
    return local if local.exists() else LOCK


def pins_of(dist: Path, platform: str) -> list[Pin]:
    return [p for p in read_lock(effective_lock(dist)) if p.platform == platform]


def fetch(dist: Path, platform: str) -> Path:
    """Downloads what the lock pins for the platform (only what is missing), checked by sha256;
    keeps each package's index stanza next to it for the repository's Packages file."""
    try:
        return _fetch(dist, platform)
    except StalePins as exc:
        print(f"debs: WARNING: {exc}; re-resolving {platform} from the mirror's signed indexes "
              f"into {dist}/debian.lock (re-pin: python -m tools.dist.debs lock, then commit "
              "tools/debian.lock)", file=sys.stderr)
        from stacks.artifacts import ALL_DEBIAN_PACKAGES
        root = AptRoot(Path(dist) / "apt" / platform, platform.split("-", 1)[1])
        root.update()
        fresh = resolve(root, list(ALL_DEBIAN_PACKAGES), platform)
        others = [p for p in read_lock(effective_lock(dist)) if p.platform != platform]
        write_lock(others + fresh, Path(dist) / "debian.lock")
        return _fetch(dist, platform)


class StalePins(RuntimeError):
    pass


def _fetch(dist: Path, platform: str) -> Path:
    target = debs_dir(dist, platform)
    target.mkdir(parents=True, exist_ok=True)
    pins = pins_of(dist, platform)
    for p in pins:
        _share(dist, platform, p)
    missing = [p for p in pins if not (target / p.filename).exists()
               or not (target / f"{p.filename}.stanza").exists()]
    if missing:
        root = AptRoot(dist / "apt" / platform, platform.split("-", 1)[1])
        root.update()
        index = root.stanzas([p.request for p in missing])
        staging = target / ".download"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            root.apt("download", *(p.request for p in missing), cwd=staging)
        except (subprocess.CalledProcessError, KeyError) as exc:
            errors = [l for l in getattr(exc, "stderr", "").splitlines() if l.startswith("E:")][:3]
            raise StalePins("the mirror no longer has every pinned package"
                            + (f" ({'; '.join(errors)})" if errors else "")) from None
        for p in missing:
            got = staging / p.filename
            if sha256_of(got) != p.sha256:
                raise SystemExit(f"debs: {p.filename} has sha256 {sha256_of(got)}, the lock pins {p.sha256}")
            stanza = index[(p.package, p.version, p.arch_of_file)]
            (target / f"{p.filename}.stanza").write_text(
                "".join(f"{k}: {v}\n" for k, v in stanza.items()
                        if k not in ("Filename", "Size", "MD5sum", "SHA256", "SHA1", "SHA512")))
            os.replace(got, target / p.filename)
        shutil.rmtree(staging, ignore_errors=True)
    return target


DEPENDENCY = re.compile(r"^\s*([a-z0-9][a-z0-9+.-]*)")   # a name, without version or :arch


def _names(field: str) -> list[list[str]]:
    """Depends-style text -> [[alternative, …], …] of package names."""
    return [[m[1] for alt in group.split("|") if (m := DEPENDENCY.match(alt))]
            for group in field.split(",") if group.strip()]


def closure(dist: Path, platform: str, packages: list[str]) -> list[Pin]:
    """The pins a host needs to install `packages` from a repository of only those: each with
    its Depends and Pre-Depends, through the platform's pins. A dependency with alternatives
    (or on a virtual package) takes the first that a pinned package meets; every pin's own
    dependencies are pinned (the lock is one whole apt resolution), so the set installs alone.
    Read from the stanzas fetch keeps, so a host is not sent what only another host needs (the
    installers' netboot packages, LXD)."""
    target = debs_dir(dist, platform)
    pins = {p.package: p for p in pins_of(dist, platform)}
    stanzas = {name: parse_stanza((target / f"{pin.filename}.stanza").read_text())
               for name, pin in pins.items()}
    providers: dict[str, str] = {}
    for name in sorted(stanzas):
        for group in _names(stanzas[name].get("Provides", "")):
            providers.setdefault(group[0], name)
    wanted, todo = set(), list(packages)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in pins:
            raise KeyError(f"{name} is not pinned for {platform} (python -m tools.dist.debs lock)")
        wanted.add(name)
        fields = stanzas[name]
        for group in _names(f"{fields.get('Pre-Depends', '')},{fields.get('Depends', '')}"):
            met = next((alt if alt in pins else providers[alt] for alt in group
                        if alt in pins or alt in providers), None)
            if met is not None:
                todo.append(met)
    return sorted(pins[name] for name in wanted)


def _share(dist: Path, platform: str, pin: Pin) -> None:
    """An architecture-independent package another platform has already fetched is linked,
    not downloaded again (the netboot installers are 130 MB each), once its sha256 matches."""
    target = debs_dir(dist, platform)
    if pin.arch_of_file != "all" or (target / pin.filename).exists():
        return
    for other in PLATFORMS:
        there = debs_dir(dist, other) / pin.filename
        stanza = there.with_name(f"{pin.filename}.stanza")
        if other != platform and stanza.exists() and there.exists() and sha256_of(there) == pin.sha256:
            shutil.copyfile(stanza, target / stanza.name)
            try:
                os.link(there, target / pin.filename)
            except OSError:
                shutil.copyfile(there, target / pin.filename)
            return


def packages_index(dist: Path, platform: str, pins: list[Pin] | None = None) -> str:
    """The flat repository's Packages file: each pinned package's stanza, with its pool path."""
    target = debs_dir(dist, platform)
    out = []
    for p in pins_of(dist, platform) if pins is None else pins:
        stanza = (target / f"{p.filename}.stanza").read_text()
        out.append(f"{stanza}Filename: pool/{p.filename}\nSize: {p.size}\nSHA256: {p.sha256}\n")
    return "\n".join(out)


def repo(dist: Path, platform: str, packages: list[str] | None = None) -> tuple[Path, str]:
    """(tar path, sha256) of a repository of the platform's pins: all of them, or the
    `closure` of `packages` (what one host installs). The pins fix every byte of it (each
    .deb by sha256), so it is built once per set of pins and found again by their digest,
    without reading the packages at each preview."""
    target = debs_dir(dist, platform)
    pins = pins_of(dist, platform)
    for p in pins:
        if not (target / f"{p.filename}.stanza").exists():
            raise FileNotFoundError(f"{target}/{p.filename} is not fetched: run tools/bootstrap")
    if packages is not None:
        pins = closure(dist, platform, packages)
    key = hashlib.sha256("".join(f"{p}\n" for p in pins).encode()).hexdigest()[:16]
    known = dist / "bundles" / f"{NAME}-pins-{key}-{platform}.sha256"
    if known.exists():
        name, sha = known.read_text().split()
        if (dist / "bundles" / name).exists():
            return dist / "bundles" / name, sha
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        members = [("Packages", packages_index(dist, platform, pins).encode())]
        members += [(f"pool/{p.filename}", (target / p.filename).read_bytes()) for p in pins]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    path = dist / "bundles" / f"{NAME}-{sha[:16]}-{platform}.tar"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".new").write_bytes(data)
        os.replace(path.with_suffix(".new"), path)
    known.write_text(f"{path.name} {sha}\n")
    return path, sha


def versions(dist: Path, platform: str, packages: list[str]) -> dict[str, str]:
    """The pinned version of each named package (what hosts install by name=version)."""
    pinned = {p.package: p.version for p in pins_of(dist, platform)}
    return {name: pinned[name] for name in packages}


if __name__ == "__main__":
    verb = sys.argv[1]
    if verb == "lock":
        sys.path.insert(0, str(ROOT))
        from stacks.artifacts import ALL_DEBIAN_PACKAGES
        import tempfile
        with tempfile.TemporaryDirectory() as work:
            print(f"{len(lock(list(ALL_DEBIAN_PACKAGES), Path(work)))} pins in {LOCK}")
        (ROOT / ".tools" / "dist" / "debian.lock").unlink(missing_ok=True)   # no longer needed
    elif verb == "fetch":
        print(fetch(Path(sys.argv[2]), sys.argv[3]))
    elif verb == "repo":
        print(repo(Path(sys.argv[2]), sys.argv[3])[0])
    else:
        sys.exit(f"unknown verb {verb!r} (lock, fetch, repo)")
