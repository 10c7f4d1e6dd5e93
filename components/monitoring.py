"""mammatus:monitoring:Monitoring — the TICK stack and Grafana on the host placed as `monitoring`,
Telegraf on every host and ntopng on the gateway (seed: Monitoring).

InfluxDB 1.x keeps the metrics (database `telegraf`), Kapacitor loads the alert TICKscripts (CPU,
disk, memory > 90 %, host down by deadman), Chronograf points at both, Grafana is provisioned with
the InfluxDB datasource and a hosts dashboard from files, every host's Telegraf writes to
InfluxDB, ntopng watches the gateway's LAN port. Renderers: components/render/{influx,telegraf,
kapacitor,grafana,ntopng}.py.

Needs: nothing from earlier layers. Provides `endpoints` (MonitoringEndpoints) for Telemetry
(instances' Telegraf).
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_random as random

from components.context import CloudContext
from components.contracts import MonitoringEndpoints
from components.runtime import delivered
from components.host import HostFile, HostService, host_dirs, parent_dirs, service_user
from components.render import grafana, influx, kapacitor, ntopng, telegraf
from components.service_manager import Daemon
from components.naming import domain_of, fqdn

TELEGRAF_CONFIG = "/etc/mammatus/telegraf/telegraf.conf"


class Monitoring(pulumi.ComponentResource):
    influx_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str]
    chronograf_url: pulumi.Output[str]
    kapacitor_url: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    telegraf_hosts: pulumi.Output[list]
    alert_rules: pulumi.Output[list]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:monitoring:Monitoring", name, None, opts)
        access = ctx.placed_for("monitoring", "Monitoring")
        spec = ctx.spec
        domain = domain_of(ctx.spec)
        child = pulumi.ResourceOptions(parent=self)
        address = str(access.host.address)
        influx_url = influx.influx_url(address)
        local_influx = influx.influx_url("127.0.0.1")
        kapacitor_url = f"http://127.0.0.1:{kapacitor.PORT}"

        # InfluxDB
        i_host = influx.InfluxPaths()
        i_text = influx.influxdb_config(i_host)
        k_host = kapacitor.KapacitorPaths()
        g_host = grafana.GrafanaPaths()
        dirs = host_dirs(f"{name}-dirs", access, [
            i_host.data_root, *parent_dirs(i_host.config, i_host.chronograf_db),
            k_host.data_dir, f"{k_host.load_dir}/tasks", *parent_dirs(k_host.config, k_host.alerts_log),
            g_host.data, g_host.dashboards, f"{g_host.provisioning}/datasources",
            f"{g_host.provisioning}/dashboards", *parent_dirs(g_host.config)], self)
        after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])

        def file(suffix, path, text, mode="0644"):
            return HostFile(f"{name}-{suffix}", access, path, text, mode=mode,
                            opts=after_dirs)

        i_conf = file("influxdb-config", i_host.config, i_text)
        influxd = HostService(f"{name}-influxdb", access, Daemon(
            name="influxdb", description="InfluxDB (metrics)",
            command=["/usr/bin/influxd", "-config", i_host.config]),
            config=[i_text], depends_on=[i_conf], opts=child)

        # Kapacitor with the alert rules
        k_text = kapacitor.kapacitor_config(k_host, local_influx, access.host.name)
        tasks = kapacitor.alert_tasks(k_host)
        k_files = [file("kapacitor-config", k_host.config, k_text)]
        # The same tasks keyed by their paths as the host sees them (HostFile maps them).
        for on_host, script in zip(kapacitor.alert_tasks(k_host), tasks.values(), strict=True):
            rule = on_host.rsplit("/", 1)[1].removesuffix(".tick").replace("_", "-")
            k_files.append(file(f"kapacitor-task-{rule}", on_host, script))
        HostService(f"{name}-kapacitor", access, Daemon(
            name="kapacitor", description="Kapacitor (alerts)",
            command=["/usr/bin/kapacitord", "-config", k_host.config]),
            config=[k_text, *tasks.values()], depends_on=[*k_files, influxd], opts=child)

        # Chronograf
        chronograf_cmd = influx.chronograf_command("/usr/bin/chronograf",
                                                   i_host, local_influx, kapacitor_url)
        HostService(f"{name}-chronograf", access, Daemon(
            name="chronograf", description="Chronograf (TICK UI)", command=chronograf_cmd),
            depends_on=[influxd], opts=child)

        # Grafana, provisioned from files
        password = random.RandomPassword(f"{name}-grafana-admin", length=24, special=False, opts=child)
        grafana_fqdn = fqdn("grafana", domain)
        ini = pulumi.Output.secret(password.result).apply(
            lambda p: grafana.grafana_ini(g_host, p, grafana_fqdn))
        g_texts = {
            "grafana-datasource": (g_host.datasource_file, grafana.datasource_yaml(influx_url)),
            "grafana-dashboards": (g_host.dashboard_provider_file, grafana.dashboard_provider_yaml(g_host)),
            "grafana-dashboard-hosts": (g_host.dashboard_file, grafana.hosts_dashboard()),
        }
        g_files = [file("grafana-config", g_host.config, ini, mode="0600")]
        g_files += [file(k, path, text) for k, (path, text) in g_texts.items()]
        HostService(f"{name}-grafana", access, Daemon(
            name="grafana", description="Grafana (dashboards)",
            command=["/usr/sbin/grafana-server",
                     f"--config={g_host.config}", "--homepath=/usr/share/grafana"]),
            config=[t for _, t in g_texts.values()], depends_on=g_files, opts=child)

        # Telegraf on every host
        telegraf_hosts = []
        for host_access in ctx.accesses():
            host = host_access.host
            text = telegraf.telegraf_config(
                influx_url, hostname=host.name,
                tags={"roles": ",".join(sorted(r.value for r in host.roles)), "cloud": domain})
            conf = HostFile(f"{name}-telegraf-{host.name}-config", host_access, TELEGRAF_CONFIG,
                            text, opts=child)
            binary = delivered(ctx, host_access, "telegraf")
            # As Telegraf's own packages run it: user telegraf.
            user = service_user(f"{name}-telegraf-{host.name}-user", host_access, "telegraf", self)
            HostService(f"{name}-telegraf-{host.name}", host_access, Daemon(
                name="telegraf", description="Telegraf (host metrics)",
                command=[binary.path, f"--config={TELEGRAF_CONFIG}"], user="telegraf"),
                config=[text, binary.sha256], depends_on=[conf, user, *binary.deps], opts=child)
            telegraf_hosts.append(host.name)

        # ntopng on the gateway's LAN port
        if spec.gateway is not None and spec.network is not None:
            gw = ctx.access(spec.gateway.host)
            n_host = ntopng.NtopngPaths()
            n_text = ntopng.ntopng_config(n_host, [spec.gateway.lan_interface], [spec.network.lan_subnet])
            n_dirs = host_dirs(f"{name}-ntopng-dirs", gw, [n_host.data_dir], self)
            n_conf = HostFile(f"{name}-ntopng-config", gw, n_host.config, n_text,
                              opts=pulumi.ResourceOptions(parent=self, depends_on=[n_dirs]))
            HostService(f"{name}-ntopng", gw, Daemon(
                name="ntopng", description="ntopng (gateway traffic)",
                command=["/usr/bin/ntopng", n_host.config]),
                config=[n_text], depends_on=[n_conf], opts=child)

        self.influx_url = pulumi.Output.from_input(influx_url)
        self.grafana_url = pulumi.Output.from_input(f"http://{address}:{grafana.PORT}")
        self.chronograf_url = pulumi.Output.from_input(f"http://{address}:{influx.CHRONOGRAF_PORT}")
        self.kapacitor_url = pulumi.Output.from_input(f"http://{address}:{kapacitor.PORT}")
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.telegraf_hosts = pulumi.Output.from_input(telegraf_hosts)
        self.alert_rules = pulumi.Output.from_input(
            sorted(p.rsplit("/", 1)[1].removesuffix(".tick") for p in tasks))
        self.endpoints = MonitoringEndpoints(
            host=access.host.name, influx_url=influx_url,
            grafana_url=f"http://{address}:{grafana.PORT}",
            extra={"chronograf_url": f"http://{address}:{influx.CHRONOGRAF_PORT}",
                   "kapacitor_url": f"http://{address}:{kapacitor.PORT}"})
        self.register_outputs({
            "influx_url": self.influx_url, "grafana_url": self.grafana_url,
            "chronograf_url": self.chronograf_url, "kapacitor_url": self.kapacitor_url,
            "grafana_admin_password": self.grafana_admin_password,
            "telegraf_hosts": self.telegraf_hosts, "alert_rules": self.alert_rules})
