"""mammatus:metadata:Metadata — the metadata service (services/metadata: EC2/NoCloud/OpenStack
layouts, the "who am I" of instances) on the host placed as `metadata`.

Writes its YAML config (components/render/metadata_config.py: listen address, cloud domain and
subnet, identity sources, vendor-data) and the instance inventory from the Configuration layer,
then runs `python -m services.metadata --listen 169.254.169.254:80 --config FILE`, with that
link-local address added to the host's LAN interface (as clouds do: instances' cloud-init looks
there). Instances reach it through their default route when the service is on the gateway, or
through the DHCP server's classless static route otherwise (components/render/dnsmasq.py).
dnsmasq's lease file is the identity source when the service shares the DHCP server's host;
otherwise dnsmasq's lease script pushes every lease to the service's own listener on its LAN
address (services/metadata/lease_push.py, signed with a key written to both hosts), and `up`
sends the whole lease file once the service answers.

With the CertificateAuthority layer, an RSA-2048 key and its certificate from the CA sign the
instance identity document (dynamic/instance-identity/signature, pkcs7, rsa2048); the
certificate is `identity_certificate` (the stack output `instance_identity_certificate`), the
one a verifier needs, as AWS publishes its own.

Needs the Configuration layer's inventory, the context's vendor-data settings and the
DhcpDnsTftp layer's server (its lease file on the same host, its lease hook on another).
Provides `service` (MetadataService) for Compute.
Order: Configuration -> Metadata -> Compute.
"""

from __future__ import annotations

import shlex
from typing import Optional

import pulumi
import pulumi_command as command
import pulumi_random as random

from components.runtime import python_daemon
from components.context import CloudContext
from components.certificates import issue_certificate
from components.contracts import CaHandle, DhcpServer, MetadataService, WiringError
from components.host import HostFile, HostService, owned_by, service_user
from components.naming import domain_of, fqdn
from components.render import metadata_config

CONFIG = "/etc/mammatus/metadata/metadata.yaml"
INVENTORY = "/etc/mammatus/metadata/inventory.yaml"
TOKEN_KEY = "/etc/mammatus/metadata/token.key"
LEASE_PUSH_KEY = "/etc/mammatus/metadata/lease-push.key"
SIGNING_KEY = "/etc/mammatus/metadata/identity-signing.key"
SIGNING_CERT = "/etc/mammatus/metadata/identity-signing.crt"
PUSHED_LEASES = "/var/lib/mammatus/metadata/pushed.leases"
USER = "mammatus-metadata"
PORT = 80
ADDRESS = metadata_config.ADDRESS


def address_commands(interface: str) -> tuple[str, str]:
    """(add, remove) of the well-known metadata address on a LAN interface."""
    return (f"ip addr replace {ADDRESS}/32 dev {interface}",
            f"ip addr del {ADDRESS}/32 dev {interface} 2>/dev/null || true")


def _has_outputs(value) -> bool:
    if isinstance(value, (pulumi.Output, pulumi.Resource)):
        return True
    if isinstance(value, dict):
        return any(_has_outputs(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_outputs(v) for v in value)
    return False


class Metadata(pulumi.ComponentResource):
    url: pulumi.Output[str]
    config: pulumi.Output[str]
    inventory_path: pulumi.Output[str]

    identity_certificate: pulumi.Output[Optional[str]]

    def __init__(self, name: str, ctx: CloudContext, inventory: pulumi.Input[str],
                 dhcp: Optional[DhcpServer] = None, ca: Optional[CaHandle] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:metadata:Metadata", name, None, opts)
        spec = ctx.spec
        access = ctx.placed_for("metadata", "Metadata")
        child = pulumi.ResourceOptions(parent=self)
        listen = f"{ADDRESS}:{PORT}"
        add, remove = address_commands(spec.lan_interface_of(access.host))
        link_local = command.remote.Command(
            f"{name}-address", connection=access.connection(), create=add, delete=remove,
            opts=child)
        leases = [dhcp.lease_file] if dhcp is not None and spec.dns_host == access.host.name else []
        vendor_data = ctx.vendor_data.settings

        # The service runs as a user of its own, which alone reads its keys and the inventory
        # (user-data may hold secrets); it keeps only the right to bind port 80.
        user = service_user(f"{name}-user", access, USER, self)
        mine = pulumi.ResourceOptions(parent=self, depends_on=[user])
        token = random.RandomPassword(f"{name}-token-key", length=48, special=False, opts=child)
        key_file = HostFile(f"{name}-token-key", access, TOKEN_KEY, token.result, mode="0600",
                            secret=True, owner=owned_by(USER), opts=mine)
        key_files = [key_file]
        push = None
        if spec.pushes_leases:
            push_key = random.RandomPassword(f"{name}-lease-push-key", length=48, special=False,
                                             opts=child)
            key_files.append(HostFile(f"{name}-lease-push-key", access, LEASE_PUSH_KEY,
                                      push_key.result, mode="0600", secret=True,
                                      owner=owned_by(USER), opts=mine))
            push = {"listen": f"{access.host.address}:{metadata_config.LEASE_PUSH_PORT}",
                    "secret_file": LEASE_PUSH_KEY,
                    "state_file": PUSHED_LEASES}

        signing, self.identity_certificate = None, pulumi.Output.from_input(None)
        if ca is not None:
            key, cert = issue_certificate(ca, f"{name}-identity-signing",
                                          fqdn("metadata", domain_of(spec)), parent=self,
                                          algorithm="RSA")
            key_files += [
                HostFile(f"{name}-identity-signing-key-file", access, SIGNING_KEY,
                         pulumi.Output.secret(key.private_key_pem), mode="0600", secret=True,
                         owner=owned_by(USER), opts=mine),
                HostFile(f"{name}-identity-signing-cert-file", access, SIGNING_CERT,
                         cert.certificate_pem, opts=child)]
            signing = {"key_file": SIGNING_KEY, "cert_file": SIGNING_CERT}
            self.identity_certificate = cert.certificate_pem

        def render(vd) -> str:
            return metadata_config.render_config(
                spec, listen=listen, inventory_path=INVENTORY, lease_files=leases,
                vendor_data=vd or None, token_secret_file=TOKEN_KEY, lease_push=push,
                identity_signing=signing)

        # Plain vendor-data gives a plain config text, whose changes restart the service; with
        # vendor-data still to be computed (Outputs) the text is an Output and only the flags are
        # tracked.
        plain = None if _has_outputs(vendor_data) else render(vendor_data)
        text = pulumi.Output.from_input(plain) if plain is not None else \
            pulumi.Output.from_input(vendor_data or {}).apply(render)
        conf = HostFile(f"{name}-config", access, CONFIG, text, opts=child)
        # Secret in the state too: user-data may hold secrets, and each instance's own
        # InfluxDB password is there.
        inv = HostFile(f"{name}-inventory", access, INVENTORY, inventory, mode="0600",
                       secret=True, owner=owned_by(USER), opts=mine)
        args = ["--listen", listen, "--config", CONFIG, "--no-access-log"]
        # The service re-reads the inventory file itself; config changes restart it.
        daemon, runtime = python_daemon(ctx, access, "metadata", "services.metadata", args,
                                        "instance metadata", user=USER,
                                        state_dir=PUSHED_LEASES.removeprefix("/var/lib/").rsplit("/", 1)[0],
                                        capabilities=("CAP_NET_BIND_SERVICE",),
                                        # The address again at every start (a reboot drops it).
                                        pre_start=(("/sbin/ip", "addr", "replace", f"{ADDRESS}/32",
                                                    "dev", spec.lan_interface_of(access.host)),))
        service = HostService(
            f"{name}-service", access, daemon,
            config=[" ".join(args), plain or ""],
            depends_on=[conf, inv, *key_files, link_local, *runtime], opts=child)
        if push is not None:
            if dhcp is None:
                raise WiringError("the Metadata layer on another host than dnsmasq needs the "
                                  "DhcpDnsTftp layer's server (its lease hook)")
            self._lease_push(name, ctx, dhcp, push_key, service)

        self.url = service.unit.apply(lambda _: f"http://{listen}")
        self.config = text
        self.inventory_path = inv.path
        self.service = MetadataService(url=f"http://{listen}", service=service)
        self.register_outputs({"url": self.url, "config": self.config,
                               "inventory_path": self.inventory_path,
                               "identity_certificate": self.identity_certificate})

    def _lease_push(self, name: str, ctx: CloudContext, dhcp: DhcpServer,
                    key: random.RandomPassword, service: HostService) -> None:
        """On the DHCP server's host: the lease hook's key and config, then one full sync."""
        hook = dhcp.lease_hook
        dns = ctx.access(ctx.spec.dns_host)
        url = metadata_config.lease_push_url(ctx.spec)
        child = pulumi.ResourceOptions(parent=self)
        files = [
            HostFile(f"{name}-hook-key", dns, hook["key"], key.result, mode="0600", secret=True,
                     opts=child),
            HostFile(f"{name}-hook-config", dns, hook["config"],
                     metadata_config.render_lease_hook_config(url=url, secret_file=hook["key_path"]),
                     opts=child),
        ]
        # Leases dnsmasq gave before the service existed (or while it was down) arrive now,
        # once the hook itself is on the DHCP host with its interpreter.
        hook_file = [hook["resource"]] if hook.get("resource") is not None else []
        command.remote.Command(
            f"{name}-lease-sync", connection=dns.connection(),
            create=f"# {url}\n{shlex.quote(hook['hook'])} --sync {shlex.quote(dhcp.lease_file)}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*files, *hook_file, service]))
