"""Wires a Config to its sources, token key and proxies: the one place that does I/O at start."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .config import Config, FileInventory, LxdInventory
from .identity import NeighbourTable, Resolver
from .inventory import FileInventorySource, LxdInventorySource
from .lease_push import LeaseTable, Receiver
from .leases import LeaseFileSource
from .server import Service
from .tokens import TokenKey


def build_service(config: Config) -> Service:
    inventories = []
    for inv in config.identity.inventories:
        if isinstance(inv, FileInventory):
            inventories.append(FileInventorySource(inv.path))
        elif isinstance(inv, LxdInventory):
            inventories.append(LxdInventorySource(inv.endpoint, inv.project, inv.refresh_seconds))
    neighbours = (NeighbourTable(str(config.identity.neighbour_table))
                  if config.identity.neighbour_check else None)
    lease_files = list(config.identity.leases)
    if config.identity.lease_push is not None:
        lease_files.append(config.identity.lease_push.state_file)
    resolver = Resolver([LeaseFileSource(p) for p in lease_files], inventories,
                        neighbours=neighbours)
    proxies = {str(p.address): Path(p.secret_file).read_bytes().strip()
               for p in config.identity.proxies}
    return Service(config=config, resolver=resolver,
                   token_key=TokenKey.load(config.tokens.secret_file), proxies=proxies)


def build_lease_receiver(config: Config) -> Optional[Receiver]:
    """The receiver of pushed leases, when the config has a `lease_push` listener."""
    push = config.identity.lease_push
    if push is None:
        return None
    return Receiver(Path(push.secret_file).read_bytes().strip(), LeaseTable(push.state_file))
