"""Where a daemon's files live on a host, as a frozen dataclass of absolute paths."""

from __future__ import annotations

import dataclasses


class HostPaths:
    """Base of the renderers' `*Paths` dataclasses: the paths on the host, as they are. Tests
    that run the real daemon on this machine move them into a scratch tree with `under`."""

    def under(self, root_of):
        """The same paths mapped by `root_of` (unset ones stay unset)."""
        return dataclasses.replace(self, **{
            f.name: root_of(value) if (value := getattr(self, f.name)) else value
            for f in dataclasses.fields(self)})
