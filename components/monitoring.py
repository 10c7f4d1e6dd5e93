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
I_HOST, K_HOST, G_HOST = influx.InfluxPaths(), kapacitor.KapacitorPaths(), grafana.GrafanaPaths()


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
        self._name, self._access = name, access
        address = str(access.host.address)
        influx_url = influx.influx_url(address)
        domain = domain_of(ctx.spec)

        dirs = host_dirs(f"{name}-dirs", access, [
            I_HOST.data_root, *parent_dirs(I_HOST.config, I_HOST.chronograf_db),
            K_HOST.data_dir, f"{K_HOST.load_dir}/tasks", *parent_dirs(K_HOST.config, K_HOST.alerts_log),
            G_HOST.data, G_HOST.dashboards, f"{G_HOST.provisioning}/datasources",
            f"{G_HOST.provisioning}/dashboards", *parent_dirs(G_HOST.config)], self)
        self._after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])

        influxd = self._influxdb()
        tasks = self._kapacitor(influxd)
        self._chronograf(influxd)
        password = self._grafana(influx_url, domain)
        telegraf_hosts = self._telegraf(ctx, influx_url, domain)
        self._ntopng(ctx)

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

    def _file(self, suffix: str, path: str, text, mode: str = "0644") -> HostFile:
        return HostFile(f"{self._name}-{suffix}", self._access, path, text, mode=mode,
                        opts=self._after_dirs)

    def _service(self, suffix: str, daemon: Daemon, **kwargs) -> HostService:
        return HostService(f"{self._name}-{suffix}", self._access, daemon,
                           opts=pulumi.ResourceOptions(parent=self), **kwargs)

    def _influxdb(self) -> HostService:
        text = influx.influxdb_config(I_HOST)
        conf = self._file("influxdb-config", I_HOST.config, text)
        return self._service("influxdb", Daemon(
            name="influxdb", description="InfluxDB (metrics)",
            command=["/usr/bin/influxd", "-config", I_HOST.config]),
            config=[text], depends_on=[conf])

    def _kapacitor(self, influxd: HostService) -> dict[str, str]:
        """Kapacitor with the alert rules; the tasks by their paths on the host."""
        text = kapacitor.kapacitor_config(K_HOST, influx.influx_url("127.0.0.1"),
                                          self._access.host.name)
        tasks = kapacitor.alert_tasks(K_HOST)
        files = [self._file("kapacitor-config", K_HOST.config, text)]
        for on_host, script in tasks.items():
            rule = on_host.rsplit("/", 1)[1].removesuffix(".tick").replace("_", "-")
            files.append(self._file(f"kapacitor-task-{rule}", on_host, script))
        self._service("kapacitor", Daemon(
            name="kapacitor", description="Kapacitor (alerts)",
            command=["/usr/bin/kapacitord", "-config", K_HOST.config]),
            config=[text, *tasks.values()], depends_on=[*files, influxd])
        return tasks

    def _chronograf(self, influxd: HostService) -> None:
        command = influx.chronograf_command("/usr/bin/chronograf", I_HOST,
                                            influx.influx_url("127.0.0.1"),
                                            f"http://127.0.0.1:{kapacitor.PORT}")
        self._service("chronograf", Daemon(
            name="chronograf", description="Chronograf (TICK UI)", command=command),
            depends_on=[influxd])

    def _grafana(self, influx_url: str, domain: str) -> random.RandomPassword:
        """Grafana, provisioned from files; its admin password (a secret)."""
        password = random.RandomPassword(f"{self._name}-grafana-admin", length=24, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        grafana_fqdn = fqdn("grafana", domain)
        ini = pulumi.Output.secret(password.result).apply(
            lambda p: grafana.grafana_ini(G_HOST, p, grafana_fqdn))
        texts = {
            "grafana-datasource": (G_HOST.datasource_file, grafana.datasource_yaml(influx_url)),
            "grafana-dashboards": (G_HOST.dashboard_provider_file, grafana.dashboard_provider_yaml(G_HOST)),
            "grafana-dashboard-hosts": (G_HOST.dashboard_file, grafana.hosts_dashboard()),
        }
        files = [self._file("grafana-config", G_HOST.config, ini, mode="0600")]
        files += [self._file(k, path, text) for k, (path, text) in texts.items()]
        self._service("grafana", Daemon(
            name="grafana", description="Grafana (dashboards)",
            command=["/usr/sbin/grafana-server",
                     f"--config={G_HOST.config}", "--homepath=/usr/share/grafana"]),
            config=[t for _, t in texts.values()], depends_on=files)
        return password

    def _telegraf(self, ctx: CloudContext, influx_url: str, domain: str) -> list[str]:
        """Telegraf on every host, as its own packages run it (user telegraf)."""
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        hosts = []
        for host_access in ctx.accesses():
            host = host_access.host
            text = telegraf.telegraf_config(
                influx_url, hostname=host.name,
                tags={"roles": ",".join(sorted(r.value for r in host.roles)), "cloud": domain})
            conf = HostFile(f"{name}-telegraf-{host.name}-config", host_access, TELEGRAF_CONFIG,
                            text, opts=child)
            binary = delivered(ctx, host_access, "telegraf")
            user = service_user(f"{name}-telegraf-{host.name}-user", host_access, "telegraf", self)
            HostService(f"{name}-telegraf-{host.name}", host_access, Daemon(
                name="telegraf", description="Telegraf (host metrics)",
                command=[binary.path, f"--config={TELEGRAF_CONFIG}"], user="telegraf"),
                config=[text, binary.sha256], depends_on=[conf, user, *binary.deps], opts=child)
            hosts.append(host.name)
        return hosts

    def _ntopng(self, ctx: CloudContext) -> None:
        """ntopng on the gateway's LAN port."""
        spec = ctx.spec
        if spec.gateway is None or spec.network is None:
            return
        name, gw = self._name, ctx.access(spec.gateway.host)
        n_host = ntopng.NtopngPaths()
        text = ntopng.ntopng_config(n_host, [spec.gateway.lan_interface], [spec.network.lan_subnet])
        dirs = host_dirs(f"{name}-ntopng-dirs", gw, [n_host.data_dir], self)
        conf = HostFile(f"{name}-ntopng-config", gw, n_host.config, text,
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[dirs]))
        HostService(f"{name}-ntopng", gw, Daemon(
            name="ntopng", description="ntopng (gateway traffic)",
            command=["/usr/bin/ntopng", n_host.config]),
            config=[text], depends_on=[conf], opts=pulumi.ResourceOptions(parent=self))
