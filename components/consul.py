"""mammatus:discovery:Consul — Consul servers on the hosts placed as `consul` (seed: Service
Discovery), and the Consul agent config instances get through vendor-data (retry-join the
servers). Renderer: components/render/consul.py.

Needs: nothing from earlier layers. Adds the `consul` vendor-data (components/vendor_data.py).
Gossip is
not encrypted: its key would have to travel in vendor-data, which is readable by every process
on an instance (see the report of issue 3).
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.runtime import delivered
from components.context import CloudContext
from components.host import HostFile, HostService, host_dirs, service_user
from components.render import consul
from components.render import vendor_data
from components.service_manager import Daemon
from components.naming import domain_of
from components.contracts import WiringError

CONFIG = "/etc/mammatus/consul/consul.json"
DATA_DIR = "/var/lib/mammatus/consul"
USER = "consul"   # as HashiCorp's packages run it
CONSUL_DOMAIN = "consul"


class Consul(pulumi.ComponentResource):
    servers: pulumi.Output[list]
    datacenter: pulumi.Output[str]
    http_url: pulumi.Output[str]
    agent_config: pulumi.Output[str]

    def __init__(self, name: str, ctx: CloudContext, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:discovery:Consul", name, None, opts)
        placed = ctx.spec.placement.consul
        if not placed:
            raise WiringError("the ServiceDiscovery layer needs mammatus:placement.consul (a list of hosts)")
        child = pulumi.ResourceOptions(parent=self)
        datacenter = domain_of(ctx.spec).split(".")[0]
        servers = [str(ctx.spec.host(h).address) for h in placed]
        for host_name in placed:
            access = ctx.access(host_name)
            data_dir = DATA_DIR
            text = consul.server_config(host_name, str(access.host.address), servers, None,
                                        datacenter, CONSUL_DOMAIN, data_dir=data_dir)
            dirs = host_dirs(f"{name}-{host_name}-dirs", access, [CONFIG.rsplit("/", 1)[0]], self)
            user = service_user(f"{name}-{host_name}-user", access, USER, self)
            conf = HostFile(f"{name}-{host_name}-config", access, CONFIG, text,
                            opts=pulumi.ResourceOptions(parent=self, depends_on=[dirs]))
            binary = delivered(ctx, access, "consul")
            HostService(f"{name}-{host_name}-server", access, Daemon(
                name="consul", description="Consul server (service discovery)",
                command=[binary.path, "agent", f"-config-file={CONFIG}"], user=USER,
                state_dir=data_dir.removeprefix("/var/lib/")),
                config=[text, binary.sha256], depends_on=[conf, user, *binary.deps], opts=child)

        agent = consul.agent_config(servers, None, datacenter, CONSUL_DOMAIN)
        ctx.vendor_data.add("consul", vendor_data.consul_agent_part(servers, datacenter, CONSUL_DOMAIN),
                        {"datacenter": datacenter, "retry_join": servers, "domain": CONSUL_DOMAIN})
        http_url = f"http://{servers[0]}:{consul.HTTP_PORT}"
        self.servers = pulumi.Output.from_input(servers)
        self.datacenter = pulumi.Output.from_input(datacenter)
        self.http_url = pulumi.Output.from_input(http_url)
        self.agent_config = pulumi.Output.from_input(agent)
        self.register_outputs({"servers": self.servers, "datacenter": self.datacenter,
                               "http_url": self.http_url, "agent_config": self.agent_config})
