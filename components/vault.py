"""mammatus:secrets:Vault — a Vault server on the host placed as `vault` (seed: Secrets
Management) with integrated storage and a TLS listener whose certificate the cloud's step-ca
issues (components/certificates.py); then, once it holds an operator token, the spec's
mammatus:vault applied with hvac (dynamic_providers/vault.py): AppRole enabled, the ACL
policies, the roles, and for every instance naming a `vaultRole` its role-id and a
response-wrapped secret-id. Renderer: components/render/vault.py.

Vault starts sealed and uninitialised: initialising and unsealing it (keys for the operator) is
an operator step, never in Pulumi state. The operator token is the secret stack config key
mammatus:vaultToken (README, "Vault: init and unseal"); without it the server is deployed and
nothing is applied (a warning says so), with it a sealed Vault stops `up` with that message.

Contract only here: Vault cannot be built from the modules reachable on this machine, so the
provider is tested against a recorded-contract stand-in of Vault's HTTP API and the agent's
config against Vault Agent's documented schema (tests/support/vault_contract.py,
tests/support/vault_agent_schema.py).

Needs: the CertificateAuthority layer's handle. Adds the `vault` vendor-data
(components/vendor_data.py): the agent's unit and the cloud's root for every instance; the
agent's config names the instance's role, so it comes per instance from `metadata_settings`.
Provides `instance_credentials` ({instance: Output {role, role_id, wrapped_secret_id}}, each
secret) for the metadata inventory.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.certificates import full_chain, issue_certificate
from components.contracts import CaHandle, WiringError
from components.context import CloudContext
from components.host import HostFile, HostService, host_dirs, owned_by, parent_dirs, service_user
from components.render import vault, vendor_data
from components.service_manager import Daemon
from components.naming import domain_of, fqdn
from dynamic_providers.vault import VaultAppRole, VaultAuthMethod, VaultPolicy, VaultSecretId

TOKEN_KEY = "vaultToken"   # mammatus:vaultToken, a secret (stacks/load.py SECRET_KEYS)
USER = "vault"


def operator_token() -> Optional[pulumi.Output[str]]:
    """The stack's Vault operator token, if the operator has set it (a secret)."""
    return pulumi.Config("mammatus").get_secret(TOKEN_KEY)


def policy_text(policy) -> str:
    """A spec policy as Vault's HCL: the text itself, or its path rules rendered."""
    return policy if isinstance(policy, str) else vault.policy_hcl(policy)


class Vault(pulumi.ComponentResource):
    address: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]
    config: pulumi.Output[str]
    # {instance: {role, role_id, wrapped_secret_id}}, each secret: for the metadata inventory.
    instance_credentials: dict[str, pulumi.Output[dict]]
    credentials: pulumi.Output[dict]
    # The metadata service's vendor_data.vault section (render/vault.py metadata_settings).
    metadata_settings: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, ca: Optional[CaHandle] = None,
                 token: Optional[pulumi.Input[str]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        """token: the operator token; by default mammatus:vaultToken."""
        super().__init__("mammatus:secrets:Vault", name, None, opts)
        if ca is None:
            raise WiringError("Vault's TLS comes from the cloud's CA: set mammatus:placement.ca")
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
        dirs = host_dirs(f"{name}-dirs", access, parent_dirs(on_host.tls_cert, on_host.config),
                         self)
        # As upstream runs it: its own user, owning its key and its raft storage.
        user = service_user(f"{name}-user", access, USER, self)
        after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])
        theirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs, user])
        chain = full_chain(cert)
        files = [
            HostFile(f"{name}-config", access, on_host.config, text, opts=after_dirs),
            HostFile(f"{name}-tls-cert", access, on_host.tls_cert, chain,
                     opts=after_dirs),
            HostFile(f"{name}-tls-key", access, on_host.tls_key,
                     pulumi.Output.secret(key.private_key_pem), mode="0600",
                     owner=owned_by(USER), opts=theirs),
        ]
        server = HostService(f"{name}-server", access, Daemon(
            name="vault", description="Vault server (secrets)",
            command=["/usr/bin/vault", "server", f"-config={on_host.config}"],
            user=USER, state_dir=on_host.data_dir.removeprefix("/var/lib/")),
            config=[text], depends_on=[*files, user], opts=child)

        token = operator_token() if token is None else token
        self.instance_credentials = {}
        if token is None:
            if ctx.spec.vault.policies or ctx.spec.vault.roles:
                pulumi.log.warn(
                    f"mammatus:{TOKEN_KEY} is not set: Vault is deployed, but its policies and "
                    "roles are not applied and instances get no credentials. Initialise and "
                    "unseal Vault, then set the token (README, 'Vault: init and unseal').", self)
        else:
            # Pulumi reaches Vault by its address (in the certificate), trusting only the root.
            connection = pulumi.Output.secret(pulumi.Output.all(ca.root_pem, token).apply(
                lambda a: {"address": vault.vault_url(address), "ca_pem": a[0], "token": a[1]}))
            self.instance_credentials = self._apply_spec(name, ctx, connection, server)

        self.credentials = pulumi.Output.secret(pulumi.Output.all(
            **self.instance_credentials) if self.instance_credentials else {})
        roles = {i.vault_role for i in ctx.spec.instances if i.vault_role}
        self.metadata_settings = pulumi.Output.from_input(ca.root_pem).apply(
            lambda pem: vault.metadata_settings(api_addr, pem, roles,
                                                credentials=bool(self.instance_credentials)))
        # The metadata service gives each instance with a role its agent's files and
        # credentials (services/metadata/config.py Vault).
        ctx.vendor_data.add("vault", pulumi.Output.from_input(ca.root_pem).apply(
            lambda pem: vendor_data.vault_agent_part(api_addr, pem)), self.metadata_settings)
        self.address = pulumi.Output.from_input(api_addr)
        self.certificate_pem = cert.certificate_pem
        self.config = pulumi.Output.from_input(text)
        self.register_outputs({"address": self.address, "certificate_pem": self.certificate_pem,
                               "config": self.config, "credentials": self.credentials})

    def _apply_spec(self, name: str, ctx: CloudContext, connection: pulumi.Output[dict],
                    server: pulumi.Resource) -> dict[str, pulumi.Output[dict]]:
        """AppRole, the policies, the roles and each instance's credentials, in that order
        (each waits for what it names); {instance: its credentials}."""
        spec = ctx.spec.vault
        after_server = pulumi.ResourceOptions(parent=self, depends_on=[server])
        approle = VaultAuthMethod(f"{name}-approle", connection, path=vault.APPROLE_MOUNT,
                                  method_type="approle",
                                  description="instances' Vault Agents (Mammatus)",
                                  opts=after_server)
        policies = {p: VaultPolicy(f"{name}-policy-{p}", connection, name=p,
                                   policy=policy_text(text), opts=after_server)
                    for p, text in sorted(spec.policies.items())}
        roles = {}
        for role_name, role in sorted(spec.roles.items()):
            needs = [approle, *(policies[p] for p in role.policies if p in policies)]
            roles[role_name] = VaultAppRole(
                f"{name}-role-{role_name}", connection, mount=vault.APPROLE_MOUNT,
                name=role_name, token_policies=role.policies, token_ttl=role.token_ttl,
                token_max_ttl=role.token_max_ttl, secret_id_ttl=role.secret_id_ttl,
                secret_id_num_uses=role.secret_id_num_uses,
                opts=pulumi.ResourceOptions(parent=self, depends_on=needs))
        credentials = {}
        for inst in ctx.spec.instances:
            if not inst.vault_role:
                continue
            role = spec.roles[inst.vault_role]
            minted = VaultSecretId(
                f"{name}-{inst.name}-secret-id", connection, mount=vault.APPROLE_MOUNT,
                role=inst.vault_role, instance=inst.name, wrap_ttl=role.wrap_ttl,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[roles[inst.vault_role]]))
            credentials[inst.name] = pulumi.Output.secret(pulumi.Output.all(
                minted.role_id, minted.wrapping_token).apply(
                    lambda a, r=inst.vault_role: {"role": r, "role_id": a[0],
                                                  "wrapped_secret_id": a[1]}))
        return credentials
