"""Where a daemon's files live on a host, as a frozen dataclass of absolute paths."""

from __future__ import annotations

import dataclasses


class HostPaths:
    """Base of the renderers' `*Paths` dataclasses: on a real host the paths are used as they
    are; the dev stack maps them into a host's file root with `under(HostAccess.path)`."""

    def under(self, root_of):
        """The same paths mapped by `root_of` (unset ones stay unset)."""
        return dataclasses.replace(self, **{
            f.name: root_of(value) if (value := getattr(self, f.name)) else value
            for f in dataclasses.fields(self)})
