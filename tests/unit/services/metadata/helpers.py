"""Small builders shared by the metadata unit tests."""

from services.metadata.config import parse_config
from services.metadata.identity import Identity
from services.metadata.inventory import Instance

CONFIG = parse_config("""
cloud: {name: lab, domain: lab.example, region: lab, availability_zone: lab-a,
        subnet: 10.0.0.0/24}
vendor_data:
  consul: {agent: {datacenter: lab, retry_join: [10.0.0.2]}}
  vault: {address: "https://10.0.0.2:8200"}
  telegraf: {influxdb_urls: ["http://10.0.0.2:8086"]}
""")

WEB = Instance(name="web-1", instance_id="i-0123456789abcdef0", macs=("02:00:00:00:00:02",),
               ssh_keys=("ssh-ed25519 AAAAkey1 alice@laptop", "ssh-rsa AAAAkey2"),
               user_data="#cloud-config\nruncmd: [[echo, hi]]\n",
               tags=(("role", "web"),))
DB = Instance(name="db-1", instance_id="i-0fedcba9876543210", macs=("02:00:00:00:00:03",))


def ident(instance=WEB, ip="10.0.0.10", mac=None) -> Identity:
    return Identity(instance, ip, mac or instance.macs[0])
