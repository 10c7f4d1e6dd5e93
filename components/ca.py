"""mammatus:pki:CertificateAuthority — step-ca on the host placed as `ca` (seed: smallstep for
ACME and internal TLS). The root and intermediate are pulumi_tls resources (ECDSA P-256; the
root's key never leaves Pulumi's state), ca.json is rendered by components/render/step_ca.py
with an ACME provisioner (traefik) and a JWK provisioner whose key signs the tokens of the
certificates Pulumi issues to internal services (components/certificates.py).

Needs: nothing from earlier layers. Provides `handle` (components/contracts.CaHandle: the URL,
the root and its fingerprint, the ACME directory, and what `issue_certificate` needs).
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_command as command
import pulumi_tls as tls

from components.runtime import delivered
from components.context import CloudContext
from components.contracts import CaHandle
from components.host import HostFile, HostService, host_dirs, owned_by, parent_dirs, service_user
from components.render import step_ca
from components.service_manager import Daemon, digest
from components.naming import domain_of, fqdn
from components.render import vendor_data
from dynamic_providers.step_ca import StepCaProvisioner, reload_command

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
CA_USES = ["cert_signing", "crl_signing", "digital_signature"]
USER = "step"


def _reload_target(access) -> tuple[Optional[str], Optional[str]]:
    """(pid file, systemd unit) through which step-ca is signalled on its host."""
    return None, "mammatus-step-ca"


class CertificateAuthority(pulumi.ComponentResource):
    ca_url: pulumi.Output[str]
    acme_directory: pulumi.Output[str]
    root_pem: pulumi.Output[str]
    root_fingerprint: pulumi.Output[str]
    intermediate_pem: pulumi.Output[str]
    config: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, provisioners: Sequence[dict] = (),
                 opts: Optional[pulumi.ResourceOptions] = None):
        """`provisioners`: extra step-ca provisioner entries (e.g. an OIDC one) kept in ca.json
        as StepCaProvisioner resources, beside the rendered ACME and JWK ones."""
        super().__init__("mammatus:pki:CertificateAuthority", name, None, opts)
        access = ctx.placed_for("ca", "CertificateAuthority")
        child = pulumi.ResourceOptions(parent=self)
        domain = domain_of(ctx.spec)
        host_fqdn = fqdn(access.host.name, domain)
        address = str(access.host.address)
        subject = lambda cn: tls.CertRequestSubjectArgs(  # noqa: E731
            common_name=cn, organization="Mammatus", organizational_unit=domain)

        root_key = tls.PrivateKey(f"{name}-root-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        root = tls.SelfSignedCert(
            f"{name}-root", private_key_pem=root_key.private_key_pem, is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"Mammatus Root CA ({domain})",
                                                  organization="Mammatus"),
            validity_period_hours=24 * ROOT_DAYS, allowed_uses=CA_USES, opts=child)
        inter_key = tls.PrivateKey(f"{name}-intermediate-key", algorithm="ECDSA", ecdsa_curve="P256",
                                   opts=child)
        inter_csr = tls.CertRequest(f"{name}-intermediate-csr", private_key_pem=inter_key.private_key_pem,
                                    subject=subject(f"Mammatus Intermediate CA ({domain})"), opts=child)
        inter = tls.LocallySignedCert(
            f"{name}-intermediate", cert_request_pem=inter_csr.cert_request_pem,
            ca_private_key_pem=root_key.private_key_pem, ca_cert_pem=root.cert_pem,
            is_ca_certificate=True, validity_period_hours=24 * INTERMEDIATE_DAYS,
            allowed_uses=CA_USES, opts=child)
        # The JWK provisioner's key: Pulumi signs its one-time tokens (issue_certificate).
        jwk_key = tls.PrivateKey(f"{name}-jwk-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        jwk = jwk_key.public_key_pem.apply(step_ca.jwk_from_public_pem)

        on_host = step_ca.StepCaPaths()
        names = step_ca.dns_names_for(host_fqdn, address, [fqdn("ca", domain)])
        # On the LAN address only (the host may have others, a WAN or IPv6 ones).
        listen = f"{address}:{step_ca.DEFAULT_PORT}"
        text = jwk.apply(lambda k: step_ca.ca_config(
            on_host, names, [step_ca.acme_provisioner(), step_ca.jwk_provisioner(k)],
            address=listen))

        dirs = host_dirs(f"{name}-dirs", access, [
            *parent_dirs(on_host.config, on_host.root_cert, on_host.intermediate_key)], self)
        # As smallstep's own packages run it: user step, which alone reads the key and ca.json.
        user = service_user(f"{name}-user", access, USER, self)
        after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs, user])
        files = [
            HostFile(f"{name}-root-cert", access, on_host.root_cert,
                     root.cert_pem, opts=after_dirs),
            HostFile(f"{name}-intermediate-cert", access, on_host.intermediate_cert,
                     inter.cert_pem, opts=after_dirs),
            HostFile(f"{name}-intermediate-key", access, on_host.intermediate_key,
                     pulumi.Output.secret(inter_key.private_key_pem),
                     mode="0600", owner=owned_by(USER), opts=after_dirs),
            HostFile(f"{name}-config", access, on_host.config, text,
                     mode="0600", owner=owned_by(USER), opts=after_dirs),
        ]
        binary = delivered(ctx, access, "step-ca")
        service = HostService(
            f"{name}-step-ca", access,
            Daemon(name="step-ca", description="step-ca certificate authority",
                   command=[binary.path, on_host.config], user=USER,
                   state_dir=on_host.db_dir.removeprefix("/var/lib/")),
            config=[binary.sha256],
            depends_on=[*files, *binary.deps], opts=child)
        # The certificates and the JWK are known only once created: when any of them (or the
        # rendered ca.json) changes, step-ca is told to reload (SIGHUP re-reads ca.json and
        # the certificates it names).
        command.remote.Command(
            f"{name}-reload", connection=access.connection(),
            create=reload_command(*_reload_target(access)),
            triggers=[text, root.cert_pem, inter.cert_pem],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service]))

        pid_file, unit = _reload_target(access)
        target = {"config_path": on_host.config, "base_digest": text.apply(digest),
                  "connection": access.connection_dict(), "pid_file": pid_file, "unit": unit,
                  "ca_url": step_ca.ca_url(address), "root_pem": root.cert_pem}
        for body in provisioners:
            StepCaProvisioner(f"{name}-provisioner-{body['name']}", body, target,
                              opts=pulumi.ResourceOptions(parent=self, depends_on=[service]))

        self.ca_url = pulumi.Output.from_input(step_ca.ca_url(host_fqdn))
        api_url = step_ca.ca_url(address)  # what Pulumi itself talks to (no DNS needed)
        self.acme_directory = pulumi.Output.from_input(step_ca.acme_directory(step_ca.ca_url(host_fqdn)))
        self.root_pem = root.cert_pem
        # Every instance trusts the cloud's root (cloud-init's ca_certs), with or without the
        # other Services layers: its SQS, SNS and object storage speak TLS from this CA.
        ctx.vendor_data.add("ca", root.cert_pem.apply(vendor_data.ca_trust_part),
                            settings=root.cert_pem, settings_key="ca_cert_pem")
        self.root_fingerprint = root.cert_pem.apply(step_ca.root_fingerprint)
        self.intermediate_pem = inter.cert_pem
        self.config = text
        self.handle = CaHandle(
            url=self.ca_url, api_url=api_url, root_pem=self.root_pem,
            root_fingerprint=self.root_fingerprint, acme_directory=self.acme_directory,
            service=service, provisioner=step_ca.JWK_PROVISIONER,
            kid=jwk.apply(lambda k: k["kid"]),
            provisioner_key=pulumi.Output.secret(jwk_key.private_key_pem))
        self.register_outputs({"ca_url": self.ca_url, "acme_directory": self.acme_directory,
                               "root_pem": self.root_pem, "root_fingerprint": self.root_fingerprint,
                               "intermediate_pem": self.intermediate_pem})
