"""What every layer's component gets from the cloud around it: the spec, the admin identity,
and the way into each host (its SSH access, what it waits for, what the Delivery layer put
there, the vendor-data instances get).

The top component (components/cloud.py) builds one CloudContext and hands it to every layer;
what one layer provides to another does not travel here but as constructor arguments
(components/contracts.py), so data flows one way and a reader sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import pulumi
from pydantic.alias_generators import to_camel

from components.host import HostAccess
from components.vendor_data import VendorData
from components.contracts import WiringError
from stacks.spec import Role, StackSpec

if TYPE_CHECKING:
    from components.runtime import Delivered, PythonRuntime


@dataclass
class CloudContext:
    spec: StackSpec
    admin_private_key: pulumi.Input[str]
    admin_public_key: pulumi.Input[str]
    # The dev box: what every host waits for (its container booted to sshd) and the host key it
    # gave each one. A real host's key comes from its spec.
    hosts_ready: Sequence[pulumi.Resource] = ()
    host_keys: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    # Set after the Delivery layer (components/cloud.py): what one host needs first (its packages).
    host_ready: dict[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    # Also from the Delivery layer: the binaries it placed and the services' venv on each host
    # (components/runtime.py: `delivered`, `python_runtime`).
    binaries: dict[tuple[str, str], "Delivered"] = field(default_factory=dict)
    runtimes: dict[str, "PythonRuntime"] = field(default_factory=dict)
    # What instances get as vendor-data, added to by the Services layers.
    vendor_data: VendorData = field(default_factory=VendorData)

    def _access(self, host) -> HostAccess:
        host_key = self.host_keys.get(host.name) or host.host_key
        ready = (*self.hosts_ready, *self.host_ready.get(host.name, ()))
        return HostAccess(host, self.admin_private_key, ready, host_key)

    def access(self, host_name: str) -> HostAccess:
        return self._access(self.spec.host(host_name))

    def accesses(self, role: Role | None = None) -> list[HostAccess]:
        hosts = self.spec.hosts if role is None else self.spec.hosts_with(role)
        return [self._access(h) for h in hosts]

    def placed(self, service: str) -> HostAccess | None:
        """The host a service is placed on (`mammatus:placement`), if any."""
        name = getattr(self.spec.placement, service)
        return self.access(name) if name else None

    def placed_for(self, service: str, layer: str) -> HostAccess:
        """The host of a service the `layer` cannot do without; a clear error when unplaced."""
        access = self.placed(service)
        if access is None:
            key = to_camel(service)
            raise WiringError(f"the {layer} layer needs mammatus:placement.{key}")
        return access
