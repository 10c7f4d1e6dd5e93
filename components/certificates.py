"""Certificates from the cloud's step-ca, for any layer that serves TLS or signs (Vault, SNS):
a key made by pulumi_tls and a certificate for it issued through the CA's JWK provisioner
(dynamic_providers/step_ca.py). Shared infrastructure: a layer passes the CertificateAuthority
layer's `handle`."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_tls as tls

from components.contracts import CaHandle
from components.host import HostAccess, HostFile, owned_by
from components.naming import fqdn
from dynamic_providers.step_ca import StepCaCertificate


def issue_certificate(ca: CaHandle, name: str, common_name: str,
                      dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = (),
                      parent: Optional[pulumi.Resource] = None, algorithm: str = "ECDSA"
                      ) -> tuple[tls.PrivateKey, StepCaCertificate]:
    """A key (pulumi_tls: ECDSA P-256, or RSA 2048 for signatures that must be RSA, like SNS's)
    and a certificate for it signed by the cloud's step-ca."""
    opts = pulumi.ResourceOptions(parent=parent)
    key_args = {"rsa_bits": 2048} if algorithm == "RSA" else {"ecdsa_curve": "P256"}
    key = tls.PrivateKey(f"{name}-key", algorithm=algorithm, **key_args, opts=opts)
    csr = tls.CertRequest(
        f"{name}-csr", private_key_pem=key.private_key_pem,
        subject=tls.CertRequestSubjectArgs(common_name=common_name, organization="Mammatus"),
        dns_names=list(dict.fromkeys([common_name, *dns_names])), ip_addresses=list(ip_addresses),
        opts=opts)
    cert = StepCaCertificate(
        f"{name}-cert", ca_url=ca.api_url, root_pem=ca.root_pem,
        csr_pem=csr.cert_request_pem, provisioner=ca.provisioner,
        provisioner_key=ca.provisioner_key, kid=ca.kid,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[ca.service]))
    return key, cert


def full_chain(cert: StepCaCertificate) -> pulumi.Output[str]:
    """The leaf then its intermediates, as servers and signers hand them out (a client holding
    only the root can then build the chain)."""
    return pulumi.Output.all(cert.certificate_pem, cert.chain_pem).apply(
        lambda c: (c[0] or "") + (c[1] or ""))


def serving_files(ca: CaHandle, name: str, access: HostAccess, domain: str, cert_path: str,
                  key_path: str, user: str, made: pulumi.Resource,
                  parent: pulumi.Resource) -> list[HostFile]:
    """A host service's HTTPS identity: a certificate for its host's FQDN and LAN address
    (clients address the services by IP) as the full chain, and its key, 0600 and `user`'s from
    the first byte (`made`: the step that creates that user)."""
    key, cert = issue_certificate(ca, name, fqdn(access.host.name, domain),
                                  ip_addresses=[str(access.host.address)], parent=parent)
    cert_file = HostFile(f"{name}-cert-file", access, cert_path, full_chain(cert),
                         opts=pulumi.ResourceOptions(parent=parent))
    key_file = HostFile(f"{name}-key-file", access, key_path,
                        pulumi.Output.secret(key.private_key_pem), mode="0600",
                        owner=owned_by(user),
                        opts=pulumi.ResourceOptions(parent=parent, depends_on=[made]))
    return [cert_file, key_file]
