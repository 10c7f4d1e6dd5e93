"""mammatus:telemetry:InstanceTelemetry — Telegraf inside instances, configured through cloud-init
vendor-data to write to the Monitoring layer's InfluxDB (seed: Cloud Services / Monitoring). It
adds its part to the context's vendor-data (components/vendor_data.py), as Consul, Vault and the
CA (its root, trusted by every instance) add theirs.
Needs the Monitoring layer's endpoints. Build it after
Monitoring, ServiceDiscovery and Secrets, and before Configuration/Metadata.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.context import CloudContext
from components.contracts import ArtifactSource, MonitoringEndpoints
from components.naming import domain_of
from components.render import influx
from components.render import vendor_data
from stacks.artifacts import INSTANCE_PLATFORM


class InstanceTelemetry(pulumi.ComponentResource):
    influx_url: pulumi.Output[str]
    vendor_data: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, monitoring: MonitoringEndpoints,
                 artifacts: Optional[ArtifactSource] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:telemetry:InstanceTelemetry", name, None, opts)
        influx_url = monitoring.influx_url
        domain = domain_of(ctx.spec)
        # The metadata service's agents script: Telegraf from the artifact server (its pinned
        # digest checked on the instance), writing as the instance's own InfluxDB user, whose
        # password the instance fetches from the metadata service (never in vendor-data).
        settings = {"influxdb_urls": [influx_url], "database": influx.DATABASE,
                    "retention_policy": influx.RETENTION_POLICY, "interval": "10s",
                    "credentials": bool(monitoring.instance_users)}
        telegraf = f"{INSTANCE_PLATFORM}/telegraf"
        if artifacts is not None and telegraf in artifacts.served:
            settings.update(artifact_url=f"{artifacts.url}/{telegraf}",
                            sha256=artifacts.served[telegraf])
        ctx.vendor_data.add("telegraf", vendor_data.telegraf_part(influx_url, cloud=domain),
                            settings)
        self.influx_url = pulumi.Output.from_input(influx_url)
        self.vendor_data = ctx.vendor_data.cloud_config.apply(vendor_data.render)
        self.register_outputs({"influx_url": self.influx_url, "vendor_data": self.vendor_data})
