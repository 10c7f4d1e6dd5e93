"""cloud-init's own schema validator, from Debian bookworm's cloud-init 22.4.2 package.

The .deb is fetched with `apt-get download` (no install: cloud-init would want to run at boot)
and unpacked into .cache/cloud-init once; its Python package is imported from there.
`validate(config)` raises cloud-init's SchemaValidationError for anything cloud-init 22.4.2
rejects in strict mode.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, ".cache", "cloud-init")
SITE = os.path.join(CACHE, "usr", "lib", "python3", "dist-packages")
VERSION = "22.4.2"


def ensure_cloudinit() -> str:
    """Unpacks Debian's cloud-init into .cache/cloud-init (once); returns its site dir."""
    if not os.path.isdir(os.path.join(SITE, "cloudinit")):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", "cloud-init"], cwd=tmp, check=True,
                           capture_output=True)
            deb = glob.glob(os.path.join(tmp, "cloud-init_*.deb"))[0]
            os.makedirs(CACHE, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", deb, CACHE], check=True)
    if SITE not in sys.path:
        sys.path.insert(0, SITE)
    import cloudinit.version
    assert cloudinit.version.version_string().startswith(VERSION), cloudinit.version.version_string()
    return SITE


def validate(config: dict) -> None:
    """Validates a cloud-config dict with cloud-init's schema, strict (raises on any error)."""
    ensure_cloudinit()
    from cloudinit.config.schema import get_schema, validate_cloudconfig_schema
    validate_cloudconfig_schema(config, get_schema(), strict=True)


def schema_error():
    ensure_cloudinit()
    from cloudinit.config.schema import SchemaValidationError
    return SchemaValidationError
