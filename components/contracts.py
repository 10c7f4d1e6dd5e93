"""What one layer hands to the next: small frozen records, built by the layer that provides them
(an attribute of its component) and passed by components/cloud.py to the layers that need them.
A reader who wants to know what, say, the Metadata layer needs reads its constructor's
signature and jumps here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi


class WiringError(ValueError):
    """A layer built without what it needs: a bug in components/cloud.py (or a test), since
    stacks/checks.py refuses a spec whose placement leaves a prerequisite out."""


@dataclass(frozen=True)
class GatewayRoute:
    """The Gateway layer: where the LAN's router is and the NAT the Firewall must apply."""
    host: str
    lan_address: str
    nat_rules: list[str]
    resource: pulumi.Resource


@dataclass(frozen=True)
class DhcpServer:
    """The DhcpDnsTftp layer: where later layers add reservations and records
    (`target`, the DnsmasqReservation/DnsmasqRecord target), the lease hook that pushes leases to
    a metadata service on another host, and the DNS server instances use."""
    target: dict[str, Any]
    resource: pulumi.Resource
    lease_hook: dict[str, Any]
    dns_address: str
    domain: str

    @property
    def lease_file(self) -> str:
        return self.target["lease_file"]


@dataclass(frozen=True)
class CaHandle:
    """The CertificateAuthority layer: what clients trust and how Pulumi asks step-ca for
    certificates (components/certificates.py)."""
    url: pulumi.Input[str]                  # https://<host>.<domain>:9000, for the cloud's users
    api_url: str                            # the same CA by address, for Pulumi itself
    root_pem: pulumi.Input[str]
    root_fingerprint: pulumi.Input[str]
    acme_directory: pulumi.Input[str]
    service: pulumi.Resource
    provisioner: str
    kid: pulumi.Input[str]
    provisioner_key: pulumi.Input[str]


@dataclass(frozen=True)
class NatsServer:
    """The Nats layer: the URL its clients connect to, the unit to wait for, and each client
    service's password ({"sns"|"sqs": secret}; the user name is the key)."""
    url: str
    host: str
    service: pulumi.Resource
    passwords: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AwsApi:
    """The SNS or SQS layer: its endpoint and an access key it accepts
    ({endpoint, region, access_key, secret_key, ca_pem?}, the secret a Pulumi secret; with the
    cloud's CA the endpoint is https and `ca_pem` the root its clients verify it with)."""
    endpoint: str
    connection: dict[str, Any]


@dataclass(frozen=True)
class MetadataService:
    """The Metadata layer: the URL instances ask, and the unit they wait for before booting."""
    url: str
    service: pulumi.Resource


@dataclass(frozen=True)
class MonitoringEndpoints:
    """The Monitoring layer: where telemetry goes (InfluxDB, verified with `ca_pem` when it is
    https), the write-only and read-only users' passwords (secrets; the users are
    components/render/influx.py's WRITER and READER), and the setup writers wait for."""
    host: str
    influx_url: str
    ca_pem: Optional[pulumi.Input[str]]
    writer_password: pulumi.Input[str]
    reader_password: pulumi.Input[str]
    setup: pulumi.Resource
    # Each instance's own write-only user: {instance: (username, password secret)}.
    instance_users: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactSource:
    """The artifact server: its base URL (http://artifacts.<domain>:PORT, known at preview) and
    what it serves, {"<platform>/<binary>": sha256}."""
    url: str
    served: dict


@dataclass(frozen=True)
class ConsulCluster:
    servers: list[str]
    datacenter: str
    http_url: Optional[str]
