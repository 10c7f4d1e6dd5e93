"""Where a daemon's files live on a host, as a frozen dataclass of absolute paths."""

from __future__ import annotations


class HostPaths:
    """Base of the renderers' `*Paths` dataclasses: the paths on the host, as they are."""
