"""mammatus:telemetry:InstanceTelemetry — Telegraf inside instances, configured through cloud-init
vendor-data to write to the Monitoring layer's InfluxDB (seed: Cloud Services / Monitoring); the
instances also trust the cloud's root CA. Also the place where the Services layers (Consul, Vault,
Telemetry) add their vendor-data: `add_vendor_data`.

Vendor-data reaches instances two ways, both kept in ctx.shared:
  * ["vendor_data"]: the metadata service's `vendor_data` settings section ({consul, vault,
    telegraf}; services/metadata/config.py), which the Configuration/Metadata layers serve;
  * ["vendor_data_cloud_config"]: the merged cloud-config (Output[dict]) of every part
    (components/render/vendor_data.py), for LXD's `cloud-init.vendor-data` or a NoCloud seed.
Needs: ctx.shared["influx_url"] (Monitoring), ["ca_root_pem"] (optional). Build it after
Monitoring, ServiceDiscovery and Secrets, and before Configuration/Metadata.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from components.context import CloudContext
from components.render import influx
from components.render import vendor_data


def add_vendor_data(ctx: CloudContext, key: str, part: pulumi.Input[dict],
                    settings: Optional[dict] = None) -> None:
    """Adds one cloud-config part (and the metadata settings for `key`) to the cloud's vendor-data;
    the merged cloud-config is recomputed so the order of the layers does not matter."""
    parts: dict[str, Any] = ctx.shared.setdefault("vendor_data_parts", {})
    parts[key] = part
    keys = sorted(parts)
    ctx.shared["vendor_data_cloud_config"] = pulumi.Output.all(*[parts[k] for k in keys]).apply(
        vendor_data.merge_vendor_data)
    if settings is not None:
        ctx.shared["vendor_data"] = {**(ctx.shared.get("vendor_data") or {}), key: settings}


class InstanceTelemetry(pulumi.ComponentResource):
    influx_url: pulumi.Output[str]
    vendor_data: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:telemetry:InstanceTelemetry", name, None, opts)
        influx_url = ctx.shared.get("influx_url")
        if influx_url is None:
            raise ValueError("the Telemetry layer needs the Monitoring layer first (influx_url)")
        domain = ctx.spec.network.domain if ctx.spec.network else "mammatus"
        add_vendor_data(ctx, "telegraf", vendor_data.telegraf_part(influx_url, cloud=domain),
                        {"influxdb_urls": [influx_url], "database": influx.DATABASE,
                         "interval": "10s"})
        root_pem = ctx.shared.get("ca_root_pem")
        if root_pem is not None:
            add_vendor_data(ctx, "ca", pulumi.Output.from_input(root_pem).apply(vendor_data.ca_trust_part))
        self.influx_url = pulumi.Output.from_input(influx_url)
        self.vendor_data = ctx.shared["vendor_data_cloud_config"].apply(vendor_data.render)
        self.register_outputs({"influx_url": self.influx_url, "vendor_data": self.vendor_data})
