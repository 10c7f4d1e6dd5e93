"""mammatus:network:Firewall — the typed rules of `mammatus:firewall` and the gateway's NAT as
ONE iptables-restore file on the gateway (components/render/iptables.py: default-deny inbound on
the WAN), and an ip6tables-restore file that denies the same for IPv6, each checked with
`--test` on the host and applied atomically whenever a file changes. On systemd hosts a oneshot
unit restores both at boot. Deleting it restores what the gateway had before (never all-ACCEPT).

Needs the Gateway layer's `route` (components/contracts.GatewayRoute: its host and NAT rules)."""

from __future__ import annotations

import shlex
from typing import Optional

import pulumi
import pulumi_command as command

from components.context import CloudContext
from components.contracts import GatewayRoute, WiringError
from components.host import HostFile
from components.render import iptables
from components.service_manager import digest




class Firewall(pulumi.ComponentResource):
    rules_path: pulumi.Output[str]
    rules: pulumi.Output[str]
    applied: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, gateway: GatewayRoute,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:network:Firewall", name, None, opts)
        spec = ctx.spec
        access = ctx.access(gateway.host)
        text = iptables.render(spec)
        # The NAT the Gateway layer published is the one in this file.
        missing = [rule for rule in gateway.nat_rules if rule not in text]
        if missing:
            raise WiringError(f"the firewall file lacks the gateway's NAT rules {missing}")

        rules_file = HostFile(f"{name}-rules", access, iptables.RULES_PATH,
                              text, mode="0640",
                              opts=pulumi.ResourceOptions(parent=self))
        text_v6 = iptables.render_v6(spec)
        rules_v6_file = HostFile(f"{name}-rules-v6", access, iptables.RULES_V6_PATH, text_v6,
                                 mode="0640", opts=pulumi.ResourceOptions(parent=self))
        v4, v6 = shlex.quote(iptables.RULES_PATH), shlex.quote(iptables.RULES_V6_PATH)
        saved = shlex.quote(iptables.SAVED_DIR)
        before4, before6 = f"{saved}/before.v4", f"{saved}/before.v6"
        depends = [rules_file, rules_v6_file, gateway.resource]
        apply = command.remote.Command(
            f"{name}-apply", connection=access.connection(),
            create=(f"# rules {digest(text, text_v6)}\n"
                    f"mkdir -p {saved} && "
                    f"{iptables.save_before_command('iptables-save', before4)} && "
                    f"{iptables.save_before_command('ip6tables-save', before6)} && "
                    f"iptables-restore --test {v4} && ip6tables-restore --test {v6} && "
                    f"iptables-restore {v4} && ip6tables-restore {v6} && echo applied"),
            delete=(f"{iptables.restore_before_command('iptables-restore', before4)}\n"
                    f"{iptables.restore_before_command('ip6tables-restore', before6)}"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends))

        # The same rules again at boot, before the network comes up.
        unit = iptables.boot_unit(iptables.RULES_PATH)
        unit_file = HostFile(f"{name}-boot-unit", access, f"/etc/systemd/system/{iptables.BOOT_UNIT}",
                             unit, opts=pulumi.ResourceOptions(parent=self))
        command.remote.Command(
            f"{name}-boot-enable", connection=access.connection(),
            create=f"# {digest(unit)}\nsystemctl daemon-reload && systemctl enable --now {iptables.BOOT_UNIT}",
            delete=f"systemctl disable {iptables.BOOT_UNIT} || true",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[unit_file, apply]))

        self.rules_path = rules_file.path
        self.rules = pulumi.Output.from_input(text)
        self.applied = apply.stdout.apply(lambda out: (out or "").strip())
        self.register_outputs({"rules_path": self.rules_path, "rules": self.rules,
                               "applied": self.applied})
