"""Vendor-data pieces (CA trust, Consul agent, Vault Agent, Telegraf) and their merge, validated
by Debian cloud-init 22.4.2's own schema in strict mode."""

import json
import tomllib

import pytest
import yaml

from components.render import vendor_data
from tests.support.cloudinit_schema import schema_error, validate
from tests.support.pki import make_pki

pytestmark = pytest.mark.integration

ROOT = make_pki().root_pem


def parts():
    return [vendor_data.ca_trust_part(ROOT),
            vendor_data.consul_agent_part(["10.0.0.2"], "home", "consul"),
            vendor_data.vault_agent_part("https://vault.mammatus:8200", ROOT, role="web"),
            vendor_data.telegraf_part("http://10.0.0.2:8086")]


@pytest.mark.parametrize("index", range(4))
def test_each_part_is_valid_cloud_config(index):
    validate(parts()[index])


def test_merged_vendor_data_is_valid_and_holds_every_agent():
    merged = vendor_data.merge_vendor_data(parts())
    validate(merged)
    files = {f["path"]: f["content"] for f in merged["write_files"]}
    consul = json.loads(files["/etc/consul.d/mammatus.json"])
    assert consul["retry_join"] == ["10.0.0.2"] and consul["server"] is False
    agent = json.loads(files["/etc/vault.d/agent.json"])
    assert agent["vault"]["address"] == "https://vault.mammatus:8200"
    assert files[agent["vault"]["ca_cert"]] == ROOT.strip() + "\n"   # the cloud's root alone
    telegraf = tomllib.loads(files["/etc/telegraf/telegraf.d/mammatus.conf"])
    assert telegraf["outputs"]["influxdb"][0]["urls"] == ["http://10.0.0.2:8086"]
    assert merged["ca_certs"]["trusted"] == [ROOT]
    assert len(merged["runcmd"]) == 3
    text = vendor_data.render(merged)
    assert text.startswith("#cloud-config\n") and yaml.safe_load(text) == merged


def test_schema_rejects_a_broken_part():
    broken = vendor_data.telegraf_part("http://x")
    broken["write_files"][0]["permission"] = "0644"  # misspelt key
    with pytest.raises(schema_error()):
        validate(broken)


def test_merge_refuses_the_same_file_twice_and_disagreeing_keys():
    with pytest.raises(ValueError, match="twice"):
        vendor_data.merge_vendor_data([vendor_data.telegraf_part("a"), vendor_data.telegraf_part("b")])
    with pytest.raises(ValueError, match="disagree"):
        vendor_data.merge_vendor_data([{"ssh_pwauth": False}, {"ssh_pwauth": True}])
