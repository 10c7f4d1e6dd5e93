"""The base of Mammatus' dynamic providers: a provider declares what its diff needs and inherits
the diff (dynamic_providers/diffing.py), so every provider updates or replaces by the same rule.

    immutable               inputs whose change replaces the resource ("connection": a new
                            target daemon)
    outputs                 what the provider computes itself (never a change)
    target                  the connection's keys that name the daemon the resource lives on
    connection_updates      whether other connection changes (credentials) are an update
    delete_before_replace   whether a replacement removes the old one first
    view(props)             what a diff compares, when not the properties themselves

Clients and transports are built inside each method (dill pickles the provider); a transport
is a context manager (`with transport(conn) as t:`)."""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import ResourceProvider

from dynamic_providers.diffing import plan_diff


class MammatusProvider(ResourceProvider):
    immutable: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    connection_updates: bool = True
    delete_before_replace: bool = True

    def view(self, props: dict[str, Any]) -> dict[str, Any]:
        return props

    def target_of(self, connection: dict[str, Any]) -> Any:
        return tuple(connection.get(key) for key in self.target)

    def diff(self, _id, olds, news):
        return plan_diff(self.view(olds), self.view(news), self.immutable, outputs=self.outputs,
                         target=self.target_of if self.target else None,
                         connection_updates=self.connection_updates,
                         delete_before_replace=self.delete_before_replace)
