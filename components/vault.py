"""mammatus:secrets:Vault — a Vault server on the host placed as `vault` (seed: Secrets
Management) with integrated storage and a TLS listener whose certificate the cloud's step-ca
issues (components/certificates.py), and the Vault Agent config instances get through
vendor-data. Renderer: components/render/vault.py. Vault starts sealed: initialising and
unsealing it (keys for the operator) is an operator step, not stored in Pulumi state.

Needs: the CertificateAuthority layer's handle. Adds the `vault` vendor-data
(components/vendor_data.py).
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.certificates import full_chain, issue_certificate
from components.contracts import CaHandle
from components.context import CloudContext
from components.host import HostFile, HostService, host_dirs, parent_dirs
from components.render import vault, vendor_data
from components.service_manager import Daemon
from components.naming import domain_of, fqdn


class Vault(pulumi.ComponentResource):
    address: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]
    config: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, ca: CaHandle,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:secrets:Vault", name, None, opts)
        access = ctx.placed_for("vault", "Secrets")
        child = pulumi.ResourceOptions(parent=self)
        domain = domain_of(ctx.spec)
        host_fqdn = fqdn(access.host.name, domain)
        address = str(access.host.address)
        key, cert = issue_certificate(ca, f"{name}-tls", fqdn("vault", domain),
                                      dns_names=[host_fqdn, "localhost"],
                                      ip_addresses=[address, "127.0.0.1"], parent=self)
        on_host = vault.VaultPaths()
        api_addr = vault.vault_url(host_fqdn)
        text = vault.server_config(on_host, access.host.name, api_addr,
                                   f"https://{address}:{vault.CLUSTER_PORT}")
        dirs = host_dirs(f"{name}-dirs", access,
                         [on_host.data_dir, *parent_dirs(on_host.tls_cert, on_host.config)], self)
        after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])
        chain = full_chain(cert)
        files = [
            HostFile(f"{name}-config", access, on_host.config, text, opts=after_dirs),
            HostFile(f"{name}-tls-cert", access, on_host.tls_cert, chain,
                     opts=after_dirs),
            HostFile(f"{name}-tls-key", access, on_host.tls_key,
                     pulumi.Output.secret(key.private_key_pem), mode="0600",
                     opts=after_dirs),
        ]
        HostService(f"{name}-server", access, Daemon(
            name="vault", description="Vault server (secrets)",
            command=["/usr/bin/vault", "server", f"-config={on_host.config}"]),
            config=[text], depends_on=files, opts=child)

        ctx.vendor_data.add("vault", vendor_data.vault_agent_part(api_addr),
                            {"address": api_addr, "ca_cert": vendor_data.ROOT_CA_PATH})
        self.address = pulumi.Output.from_input(api_addr)
        self.certificate_pem = cert.certificate_pem
        self.config = pulumi.Output.from_input(text)
        self.register_outputs({"address": self.address, "certificate_pem": self.certificate_pem,
                               "config": self.config})
