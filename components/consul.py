"""mammatus:discovery:Consul — Consul servers on the hosts placed as `consul` (seed: Service
Discovery), secure from their first start, and the Consul agent config instances get through
vendor-data. Renderer: components/render/consul.py (what each setting is for).

Needs: the CertificateAuthority layer (`ca`): each server's certificate (its FQDN, its LAN
address and server.<datacenter>.consul) is issued by the cloud's step-ca, with the root beside
it. Adds the `consul` vendor-data (components/vendor_data.py).

Secrets, generated in the stack (pulumi-random, secret in the state) and written to each
server's 0600 secrets file for the consul user alone, never on a command line: the gossip key,
the initial management token (the same on every server) and the server's own agent token. That
agent token is made in Consul's ACLs with the server's node identity once the cluster is up
(dynamic_providers/consul_acl.py, over the HTTPS API with the management token).

Instances: each spec instance has an agent token of its own (its node identity, and a service
identity per name in its `consulServices`), made here once the servers run. Its secrets (the
gossip key and that token, as the agent's 0600 secrets file) go to the Configuration layer's
inventory (`instance_secrets`), which the metadata service serves to that instance alone
(/mammatus/v1/consul-credentials, with a session token); vendor-data, which every process on an
instance can read, carries only the agent's config and where to download Consul from (the
cloud's artifact server, its sha256 checked on the instance).

DNS: requests without a token may read node and service names (the `mammatus-dns-read` policy on
Consul's anonymous token), so the gateway's dnsmasq forwards `consul.` to the servers and
`<service>.service.consul` resolves anywhere on the LAN; the KV store and every write stay
denied.
"""

from __future__ import annotations

import json
import uuid
from typing import Optional

import pulumi
import pulumi_random as random

from components.certificates import full_chain, issue_certificate
from components.context import CloudContext
from components.contracts import ArtifactSource, CaHandle, WiringError
from components.host import HostFile, HostService, host_dirs, owned_by, service_user
from components.naming import domain_of, fqdn
from components.render import consul
from components.render import vendor_data
from components.runtime import delivered
from components.service_manager import Daemon
from dynamic_providers.consul_acl import ConsulAclToken, ConsulAnonymousPolicy
from stacks.artifacts import INSTANCE_PLATFORM

CONFIG_DIR = "/etc/mammatus/consul"
CONFIG = f"{CONFIG_DIR}/consul.json"
SECRETS = f"{CONFIG_DIR}/secrets.json"        # 0600, the consul user's
TLS = consul.TlsFiles(ca_file=f"{CONFIG_DIR}/root_ca.crt", cert_file=f"{CONFIG_DIR}/consul.crt",
                      key_file=f"{CONFIG_DIR}/consul.key")
DATA_DIR = "/var/lib/mammatus/consul"
USER = "consul"   # as HashiCorp's packages run it
CONSUL_DOMAIN = "consul"


def secret_uuid(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A random UUID (Consul's tokens are UUIDs) that stays secret in the state: RandomUuid's
    own id is its value, so it is made from RandomBytes, whose outputs are secret."""
    raw = random.RandomBytes(name, length=16, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(raw.hex.apply(lambda h: str(uuid.UUID(hex=h, version=4))))


class Consul(pulumi.ComponentResource):
    servers: pulumi.Output[list]
    datacenter: pulumi.Output[str]
    http_url: pulumi.Output[str]
    agent_config: pulumi.Output[str]
    management_token: pulumi.Output[str]
    # {instance: its agent's secrets file (JSON text), secret}: for the metadata inventory.
    instance_secrets: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, ctx: CloudContext, ca: Optional[CaHandle] = None,
                 artifacts: Optional[ArtifactSource] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:discovery:Consul", name, None, opts)
        placed = ctx.spec.placement.consul
        if not placed:
            raise WiringError("the ServiceDiscovery layer needs mammatus:placement.consul (a list of hosts)")
        if ca is None:
            raise WiringError("Consul's TLS comes from the cloud's CA: set mammatus:placement.ca")
        child = pulumi.ResourceOptions(parent=self)
        domain = domain_of(ctx.spec)
        datacenter = domain.split(".")[0]
        servers = [str(ctx.spec.host(h).address) for h in placed]
        gossip_key = random.RandomBytes(f"{name}-gossip-key", length=32, opts=child).base64
        management = secret_uuid(f"{name}-management-token", self)

        started, agents = [], []
        for host_name in placed:
            access = ctx.access(host_name)
            address = str(access.host.address)
            text = consul.server_config(host_name, address, servers, datacenter, CONSUL_DOMAIN,
                                        TLS, data_dir=DATA_DIR)
            dirs = host_dirs(f"{name}-{host_name}-dirs", access, [CONFIG_DIR], self)
            user = service_user(f"{name}-{host_name}-user", access, USER, self)
            after_dirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs])
            theirs = pulumi.ResourceOptions(parent=self, depends_on=[dirs, user])
            agent_token = secret_uuid(f"{name}-{host_name}-agent-token", self)
            key, cert = issue_certificate(
                ca, f"{name}-{host_name}-tls", fqdn(host_name, domain),
                dns_names=[consul.server_name(datacenter, CONSUL_DOMAIN)],
                ip_addresses=[address], parent=self)
            files = [
                HostFile(f"{name}-{host_name}-config", access, CONFIG, text, opts=after_dirs),
                HostFile(f"{name}-{host_name}-secrets", access, SECRETS,
                         pulumi.Output.all(gossip_key, agent_token, management).apply(
                             lambda a: consul.secrets_config(*a)),
                         mode="0600", secret=True, owner=owned_by(USER), opts=theirs),
                HostFile(f"{name}-{host_name}-root-ca", access, TLS.ca_file, ca.root_pem,
                         opts=after_dirs),
                HostFile(f"{name}-{host_name}-cert", access, TLS.cert_file, full_chain(cert),
                         opts=after_dirs),
                HostFile(f"{name}-{host_name}-key", access, TLS.key_file,
                         pulumi.Output.secret(key.private_key_pem), mode="0600",
                         owner=owned_by(USER), opts=theirs),
            ]
            binary = delivered(ctx, access, "consul")
            started.append(HostService(f"{name}-{host_name}-server", access, Daemon(
                name="consul", description="Consul server (service discovery)",
                command=[binary.path, "agent", f"-config-file={CONFIG}", f"-config-file={SECRETS}"],
                user=USER, state_dir=DATA_DIR.removeprefix("/var/lib/")),
                config=[text, binary.sha256], depends_on=[*files, user, *binary.deps], opts=child))
            agents.append((host_name, address, agent_token))

        # Each server's agent token, once all of them run (the first leader needs them all).
        http_url = f"https://{servers[0]}:{consul.HTTPS_PORT}"
        after_start = pulumi.ResourceOptions(parent=self, depends_on=started)
        for host_name, address, agent_token in agents:
            ConsulAclToken(f"{name}-{host_name}-agent-acl",
                           url=f"https://{address}:{consul.HTTPS_PORT}", ca_pem=ca.root_pem,
                           management_token=management, secret_id=agent_token,
                           node_name=host_name, datacenter=datacenter, opts=after_start)
        ConsulAnonymousPolicy(f"{name}-dns-policy", url=http_url, ca_pem=ca.root_pem,
                              management_token=management, policy_name=consul.DNS_POLICY_NAME,
                              rules=consul.DNS_POLICY_RULES, opts=after_start)
        self.instance_secrets = {}
        for inst in ctx.spec.instances:
            token = secret_uuid(f"{name}-{inst.name}-agent-token", self)
            ConsulAclToken(f"{name}-{inst.name}-agent-acl", url=http_url, ca_pem=ca.root_pem,
                           management_token=management, secret_id=token, node_name=inst.name,
                           datacenter=datacenter, services=inst.consul_services,
                           description=f"agent token of instance {inst.name} (Mammatus)",
                           opts=after_start)
            self.instance_secrets[inst.name] = pulumi.Output.secret(
                pulumi.Output.all(gossip_key, token).apply(
                    lambda a: consul.instance_secrets_config(*a)))

        agent = consul.agent_config(servers, datacenter, CONSUL_DOMAIN, vendor_data.ROOT_CA_PATH)
        settings = {"agent": json.loads(agent), "credentials": bool(ctx.spec.instances)}
        binary_key = f"{INSTANCE_PLATFORM}/consul"
        if artifacts is not None and binary_key in artifacts.served:
            settings.update(artifact_url=f"{artifacts.url}/{binary_key}",
                            sha256=artifacts.served[binary_key])
        ctx.vendor_data.add("consul", vendor_data.consul_agent_part(servers, datacenter, CONSUL_DOMAIN),
                            settings)
        self.servers = pulumi.Output.from_input(servers)
        self.datacenter = pulumi.Output.from_input(datacenter)
        self.http_url = pulumi.Output.from_input(http_url)
        self.agent_config = pulumi.Output.from_input(agent)
        self.management_token = management
        self.register_outputs({"servers": self.servers, "datacenter": self.datacenter,
                               "http_url": self.http_url, "agent_config": self.agent_config})
