"""The whole cloud of one stack: wires every layer's component in dependency order."""

from __future__ import annotations

import pulumi

from components.foundation import Foundation
from stacks.spec import StackSpec


class MammatusCloud(pulumi.ComponentResource):
    foundation: Foundation

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mammatus:index:Cloud", name, None, opts)
        self.foundation = Foundation(f"{name}-foundation", spec,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"run_dir": self.foundation.run_dir})

    def export(self) -> None:
        """Stack outputs a user of the cloud reads (`bin/pulumi stack output`)."""
        pulumi.export("run_dir", self.foundation.run_dir)
        pulumi.export("admin_public_key", self.foundation.admin_public_key)
        pulumi.export("admin_public_key_file", self.foundation.admin_public_key_file)
        pulumi.export("admin_password", self.foundation.admin_password)
