"""The manifest of `.tools/dist/`: every artifact Mammatus delivers to hosts, per platform.

    .tools/dist/<platform>/<name>        e.g. linux-arm64/minio
    .tools/dist/manifest.json            {platform: {name: {"sha256", "size", "mtime_ns"}}}

`python -m tools.dist.manifest DIST` (run by tools/bootstrap) rewrites the manifest, hashing only
files whose size or mtime changed since the last run, so a no-op bootstrap stays fast. The
Delivery layer (components/delivery.py) reads it; each host checks the digest on arrival.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

PLATFORMS = ("linux-amd64", "linux-arm64")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def build(dist: Path) -> dict:
    try:
        old = json.loads((dist / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        old = {}
    manifest: dict = {}
    for platform in PLATFORMS:
        folder = dist / platform
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            st = entry.stat()
            seen = old.get(platform, {}).get(entry.name, {})
            same = seen.get("size") == st.st_size and seen.get("mtime_ns") == st.st_mtime_ns
            manifest.setdefault(platform, {})[entry.name] = {
                "sha256": seen["sha256"] if same else sha256_of(entry),
                "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return manifest


def write(dist: Path) -> dict:
    manifest = build(dist)
    tmp = dist / ".manifest.json.new"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, dist / "manifest.json")
    return manifest


if __name__ == "__main__":
    write(Path(sys.argv[1]))
