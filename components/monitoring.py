"""mammatus:monitoring:Monitoring — InfluxDB on the host placed as `monitoring`, and Telegraf on
every host writing to it (seed: Monitoring). Alerts are the Alerts layer's
(components/alerts.py: Kapacitor and its relay to SNS), built after messaging.

InfluxDB 1.x is Debian's package (1.6.7; MIT): authentication on from its first start, HTTPS
from the cloud's CA when there is one, listening on the host's LAN address only. Mammatus makes
the `telegraf` database, its retention policy (`monitoring.retention`) and two users: `telegraf`
(write only: every host's Telegraf and the instances') and `kapacitor` (read only), through
dynamic_providers/influxdb.py. Telegraf runs on every host as its own user, its password in a
0600 file of that user. Dashboards are code (components/render/grafana.py), for a user's own
Grafana: Grafana itself is AGPL and not part of Mammatus.

Needs: the CA's handle (optional: without it InfluxDB speaks plain HTTP on the LAN). Provides
`endpoints` (MonitoringEndpoints) for InstanceTelemetry and Alerts.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_random as random

from components.certificates import serving_files
from components.context import CloudContext
from components.contracts import CaHandle, MonitoringEndpoints
from components.host import HostFile, HostService, host_dirs, owned_by, parent_dirs, service_user
from components.naming import domain_of
from components.render import influx, telegraf
from components.runtime import delivered
from components.service_manager import Daemon
from dynamic_providers.influxdb import InfluxSetup
from stacks.spec import Role

TELEGRAF_CONFIG = "/etc/mammatus/telegraf/telegraf.conf"
TELEGRAF_CA = "/etc/mammatus/telegraf/ca-root.pem"
INFLUX_USER = "influxdb"   # Debian's package makes it
I_HOST = influx.InfluxPaths()


class Monitoring(pulumi.ComponentResource):
    influx_url: pulumi.Output[str]
    telegraf_hosts: pulumi.Output[list]

    def __init__(self, name: str, ctx: CloudContext, ca: Optional[CaHandle] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:monitoring:Monitoring", name, None, opts)
        access = ctx.placed_for("monitoring", "Monitoring")
        self._name, self._access = name, access
        address = str(access.host.address)
        tls = ca is not None
        influx_url = influx.influx_url(address, tls=tls)
        child = pulumi.ResourceOptions(parent=self)

        passwords = {user: random.RandomPassword(f"{name}-influx-{user}-password", length=32,
                                                 special=False, opts=child)
                     for user in (influx.ADMIN, influx.WRITER, influx.READER)}
        # Each instance writes as a user of its own, so one instance's key is not every host's.
        instance_users = {
            inst.name: (influx.instance_user(inst.name), random.RandomPassword(
                f"{name}-influx-instance-{inst.name}-password", length=32, special=False,
                opts=child).result)
            for inst in ctx.spec.instances}
        influxd = self._influxdb(ctx, ca, address)
        setup = InfluxSetup(
            f"{name}-influx-setup", url=influx_url, ca_pem=ca.root_pem if tls else "",
            retention=ctx.spec.monitoring.retention,
            admin_password=passwords[influx.ADMIN].result,
            passwords={**{u: passwords[u].result for u in (influx.WRITER, influx.READER)},
                       **{user: password for user, password in instance_users.values()}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[influxd]))
        writer = pulumi.Output.secret(passwords[influx.WRITER].result)
        telegraf_hosts = self._telegraf(ctx, influx_url, writer, ca, setup)

        self.influx_url = pulumi.Output.from_input(influx_url)
        self.telegraf_hosts = pulumi.Output.from_input(telegraf_hosts)
        self.endpoints = MonitoringEndpoints(
            host=access.host.name, influx_url=influx_url, ca_pem=ca.root_pem if tls else None,
            writer_password=writer,
            reader_password=pulumi.Output.secret(passwords[influx.READER].result), setup=setup,
            instance_users={i: (u, pulumi.Output.secret(p)) for i, (u, p) in instance_users.items()})
        self.register_outputs({"influx_url": self.influx_url, "telegraf_hosts": self.telegraf_hosts})

    def _influxdb(self, ctx: CloudContext, ca: Optional[CaHandle], address: str) -> HostService:
        name, access = self._name, self._access
        dirs = host_dirs(f"{name}-dirs", access, parent_dirs(I_HOST.config), self)
        after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])
        text = influx.influxdb_config(I_HOST, http_bind=f"{address}:{influx.HTTP_PORT}",
                                      tls=ca is not None)
        files = [HostFile(f"{name}-influxdb-config", access, I_HOST.config, text, opts=after_dirs)]
        if ca is not None:
            files += serving_files(ca, f"{name}-influxdb-tls", access, domain_of(ctx.spec),
                                   I_HOST.tls_cert, I_HOST.tls_key, INFLUX_USER, made=dirs,
                                   parent=self)
        return HostService(f"{name}-influxdb", access, Daemon(
            name="influxdb", description="InfluxDB (metrics)", user=INFLUX_USER,
            state_dir=I_HOST.data_root.removeprefix("/var/lib/"),
            command=["/usr/bin/influxd", "-config", I_HOST.config]),
            config=[text], depends_on=files,
            opts=pulumi.ResourceOptions(parent=self))

    def _telegraf(self, ctx: CloudContext, influx_url: str, password: pulumi.Output[str],
                  ca: Optional[CaHandle], setup: InfluxSetup) -> list[str]:
        """Telegraf on every host, as its own user; its config (with the writer's password) is
        that user's, 0600."""
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        spec, hosts = ctx.spec, []
        for host_access in ctx.accesses():
            host = host_access.host
            user = service_user(f"{name}-telegraf-{host.name}-user", host_access, "telegraf", self)
            owned = pulumi.ResourceOptions(parent=self, depends_on=[user])
            files = []
            if ca is not None:
                files.append(HostFile(f"{name}-telegraf-{host.name}-ca", host_access, TELEGRAF_CA,
                                      ca.root_pem, opts=child))
            text = password.apply(lambda pw, host=host: telegraf.telegraf_config(
                influx_url, hostname=host.name, password=pw,
                ca_file=TELEGRAF_CA if ca is not None else "",
                tags={"roles": ",".join(sorted(r.value for r in host.roles)),
                      "cloud": domain_of(spec)},
                gateway=Role.gateway in host.roles))
            files.append(HostFile(f"{name}-telegraf-{host.name}-config", host_access,
                                  TELEGRAF_CONFIG, pulumi.Output.secret(text), mode="0600",
                                  owner=owned_by("telegraf"), opts=owned))
            binary = delivered(ctx, host_access, "telegraf")
            HostService(f"{name}-telegraf-{host.name}", host_access, Daemon(
                name="telegraf", description="Telegraf (host metrics)",
                command=[binary.path, f"--config={TELEGRAF_CONFIG}"], user="telegraf"),
                config=[binary.sha256], depends_on=[*files, user, setup, *binary.deps], opts=child)
            hosts.append(host.name)
        return hosts
