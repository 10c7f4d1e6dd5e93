"""cloud-init's own schema validator, from Debian bookworm's cloud-init 22.4.2 package, as
tests/support/cloudinit.py unpacks it (once, into .cache/metadata; shared with the metadata
service's tests). `validate(config)` raises cloud-init's SchemaValidationError for anything
cloud-init 22.4.2 rejects in strict mode.
"""

from __future__ import annotations

import sys

from tests.support.cloudinit import VERSION, ensure_cloudinit


def _import_path() -> None:
    site = str(ensure_cloudinit())
    if site not in sys.path:
        sys.path.insert(0, site)
    import cloudinit.version
    assert cloudinit.version.version_string().startswith(VERSION), cloudinit.version.version_string()


def validate(config: dict) -> None:
    """Validates a cloud-config dict with cloud-init's schema, strict (raises on any error)."""
    _import_path()
    from cloudinit.config.schema import get_schema, validate_cloudconfig_schema
    validate_cloudconfig_schema(config, get_schema(), strict=True)


def schema_error():
    _import_path()
    from cloudinit.config.schema import SchemaValidationError
    return SchemaValidationError
