"""The metadata service's config and inventory as rendered, loaded by the service's own parsers
(services/metadata/config.py and inventory.py)."""

import yaml

from components.render import metadata_config
from dynamic_providers import rootfs_image
from services.metadata.config import parse_config
from services.metadata.inventory import parse_inventory
from tests.support.netlab import stack_spec


def test_config_loads_with_the_services_parser():
    spec = stack_spec("home")
    text = metadata_config.render_config(
        spec, listen="10.0.0.2:80", inventory_path="/etc/mammatus/metadata/inventory.yaml",
        lease_files=["/var/lib/misc/dnsmasq.leases"], token_secret_file="/etc/m/token.key",
        vendor_data={"consul": {"agent": {"datacenter": "home", "retry_join": ["10.0.0.2"]}},
                     "telegraf": {"influxdb_urls": ["http://10.0.0.2:8086"]}})
    config = parse_config(text)
    assert config.listen == "10.0.0.2:80"
    assert config.cloud.domain == "mammatus" and str(config.cloud.subnet) == "10.0.0.0/24"
    assert [str(p) for p in config.identity.leases] == ["/var/lib/misc/dnsmasq.leases"]
    assert config.identity.inventories[0].type == "file"
    assert config.vendor_data.consul.agent["retry_join"] == ["10.0.0.2"]
    assert str(config.tokens.secret_file) == "/etc/m/token.key"


def test_inventory_loads_with_the_services_parser_with_every_instances_mac():
    spec = stack_spec("home")
    text = metadata_config.render_inventory(
        spec, {"web-1": "#cloud-config\npackages: [nginx]\n"}, ssh_keys=["ssh-ed25519 AAAA admin"])
    instances = {i.name: i for i in parse_inventory(text)}
    assert sorted(instances) == sorted(i.name for i in spec.instances)
    for inst in spec.instances:   # the spec's MAC, or the derived one LXD is given
        assert instances[inst.name].macs == (spec.instance_mac(inst),)
    assert instances["web-1"].user_data.startswith("#cloud-config")
    assert instances["web-1"].host == "compute-1"
    assert instances["db-1"].ssh_keys == ("ssh-ed25519 AAAA admin",)


def test_the_deployment_turns_the_neighbour_check_on():
    text = metadata_config.render_config(stack_spec("home"), listen="169.254.169.254:80",
                                         inventory_path="/etc/mammatus/metadata/inventory.yaml")
    # Written out, not left to the service's default: the deployed file says what it enforces.
    assert yaml.safe_load(text)["identity"]["neighbour_check"] is True
    assert parse_config(text).identity.neighbour_check is True


def test_tokens_are_not_required_while_the_images_read_nocloud():
    # NoCloud's seedfrom cannot send IMDSv2 tokens: requiring them would leave every instance
    # without its user-data. Revisit together if the images move to the Ec2 datasource.
    assert "datasource_list: [NoCloud, None]" in rootfs_image.nocloud_cfg()
    text = metadata_config.render_config(stack_spec("lab"), listen="169.254.169.254:80",
                                         inventory_path="/i.yaml", token_secret_file="/k")
    assert yaml.safe_load(text)["tokens"] == {"required": False, "secret_file": "/k"}
    assert parse_config(text).tokens.hop_limit == 1
