"""The vendor-data every instance gets, as the Services layers (Consul, Vault, Telemetry)
contribute it. Shared infrastructure: the context holds one `VendorData`; the Metadata layer
serves its `settings`, and `cloud_config` is the merged cloud-config of every part
(components/render/vendor_data.py) for LXD's `cloud-init.vendor-data` or a NoCloud seed."""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from components.render import vendor_data as render


class VendorData:
    def __init__(self) -> None:
        self.parts: dict[str, pulumi.Input[dict]] = {}
        # The metadata service's `vendor_data` section ({consul, vault, telegraf, iscsi};
        # services/metadata/config.py).
        self.settings: dict[str, Any] = {}

    def add(self, key: str, part: pulumi.Input[dict], settings: Optional[Any] = None,
            settings_key: Optional[str] = None) -> None:
        """One cloud-config part, and the metadata settings for it (under `settings_key`, by
        default `key`) when it has some."""
        self.parts[key] = part
        if settings is not None:
            self.settings[settings_key or key] = settings

    @property
    def cloud_config(self) -> pulumi.Output[dict]:
        """Every part merged, in the order of their keys (the order of the layers is no matter)."""
        keys = sorted(self.parts)
        return pulumi.Output.all(*[self.parts[k] for k in keys]).apply(render.merge_vendor_data)
