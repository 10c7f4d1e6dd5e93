"""The real client: Debian's cloud-init 22.4.2 datasources against the service on loopback.

Each run is a subprocess (tests/support/cloudinit.py) playing one instance by its loopback
source address, with all of cloud-init's paths in a temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.cloudinit import ensure_cloudinit, run_cloudinit

from .conftest import WEB1

pytestmark = pytest.mark.integration

USER_DATA = ("#cloud-config\n"
             "ssh_pwauth: true\n"          # overrides vendor-data's ssh_pwauth: false
             "runcmd:\n- [touch, /run/user-data-marker]\n"
             "write_files:\n- {path: /etc/motd, content: hello}\n")


@pytest.fixture(scope="module")
def dist_packages():
    return ensure_cloudinit()


@pytest.fixture
def cloud(make_server, dist_packages):
    return make_server(instances=[dict(WEB1, user_data=USER_DATA),
                                  {"name": "db-1", "macs": ["02:00:00:00:00:03"]}])


def instance_id(server, source="127.0.0.2"):
    token = server.token(source)
    return server.get(source, "/latest/meta-data/instance-id",
                      **{"X-aws-ec2-metadata-token": token}).body


def assert_user_data_and_hostname(result, server):
    assert result["found"] is True
    assert result["instance_id"] == instance_id(server)
    assert result["hostname"] == "web-1"
    assert result["userdata_raw"] == USER_DATA
    assert result["ssh_keys"] == WEB1["ssh_keys"]


def assert_vendor_data_merged(result):
    merged = result["merged"]
    # user-data wins on its keys, vendor-data fills in the rest (cloud-init's merge)
    assert merged["ssh_pwauth"] is True
    assert merged["manage_etc_hosts"] is True
    assert merged["runcmd"] == [["touch", "/run/user-data-marker"]]
    assert merged["write_files"] == [{"path": "/etc/motd", "content": "hello"}]
    # the agents script is stored for cc_scripts_vendor, untouched by the user's runcmd
    script = result["vendor_scripts"]["mammatus-agents.sh"]
    assert script.startswith("#!/bin/sh") and "consul.d/mammatus.json" in script


def test_cloud_init_is_22_4_2(dist_packages):
    assert (Path(dist_packages) / "cloud_init-22.4.2.egg-info").exists()
    out = subprocess.run([sys.executable, "-c", "import cloudinit.version as v;"
                          "print(v.version_string())"], env=dict(os.environ,
                         PYTHONPATH=str(dist_packages)), capture_output=True, text=True)
    assert out.stdout.strip() == "22.4.2"


def test_ec2_on_aws_uses_imdsv2(cloud, tmp_path):
    result = run_cloudinit(tmp_path / "ci", "127.0.0.2", "ec2", cloud.url, platform="aws")
    assert_user_data_and_hostname(result, cloud)
    assert result["cloud_name"] == "aws"
    assert result["used_token"] is True
    assert result["api_version"] == "2021-03-23"
    assert result["fqdn"] == "web-1.mammatus"
    assert result["metadata"]["placement"]["availability-zone"] == "home-a"
    log = cloud.log()
    assert '"PUT /latest/api/token" 200' in log
    assert '"GET /2021-03-23/meta-data/instance-id" 200' in log
    assert not any(" - \"" in line for line in log.splitlines() if "access" in line)


def test_ec2_on_unknown_platform_uses_imdsv1(cloud, tmp_path):
    result = run_cloudinit(tmp_path / "ci", "127.0.0.2", "ec2", cloud.url, platform="unknown")
    log = cloud.log()  # before the checks below ask for tokens themselves
    assert '"GET /2009-04-04/meta-data/instance-id" 200' in log
    assert "/latest/api/token" not in log
    assert result["cloud_name"] == "unknown" and result["used_token"] is False
    assert_user_data_and_hostname(result, cloud)


def test_ec2_on_aws_with_tokens_required(make_server, dist_packages, tmp_path):
    server = make_server({"tokens": {"required": True}},
                         instances=[dict(WEB1, user_data=USER_DATA)])
    result = run_cloudinit(tmp_path / "ci", "127.0.0.2", "ec2", server.url, platform="aws")
    assert_user_data_and_hostname(result, server)
    assert '" 401 ' not in server.log()


def test_another_instance_gets_its_own_data(cloud, tmp_path):
    result = run_cloudinit(tmp_path / "ci", "127.0.0.3", "ec2", cloud.url, platform="aws")
    assert result["instance_id"] == instance_id(cloud, "127.0.0.3")
    assert result["instance_id"] != instance_id(cloud)
    assert result["hostname"] == "db-1" and not result["userdata_raw"]


def test_unknown_source_gets_nothing(cloud, tmp_path):
    ec2 = run_cloudinit(tmp_path / "ec2", "127.0.0.9", "ec2", cloud.url, platform="unknown",
                        max_wait=2)
    assert ec2 == {"found": False}
    assert '127.0.0.9 - "GET /2009-04-04/meta-data/instance-id" 403' in cloud.log()


def test_nocloud_net_seedfrom(cloud, tmp_path):
    result = run_cloudinit(tmp_path / "ci", "127.0.0.2", "nocloud", cloud.url)
    assert_user_data_and_hostname(result, cloud)
    assert result["fqdn"] == "web-1.mammatus"
    assert_vendor_data_merged(result)


def test_openstack_datasource(cloud, tmp_path):
    result = run_cloudinit(tmp_path / "ci", "127.0.0.2", "openstack", cloud.url)
    assert_user_data_and_hostname(result, cloud)
    assert result["cloud_name"] == "openstack"
    assert result["fqdn"] == "web-1.mammatus"
    assert_vendor_data_merged(result)
    assert "manage_etc_hosts" in result["vendordata_raw"]        # vendor_data.json (static)
    assert "mammatus-agents.sh" in result["vendordata2_raw"]     # vendor_data2.json (dynamic)


def test_openstack_metadata_reader(cloud, tmp_path):
    reader = run_cloudinit(tmp_path / "ci", "127.0.0.2", "openstack-reader", cloud.url)["reader"]
    assert reader["metadata"]["instance-id"] == instance_id(cloud)
    assert reader["metadata"]["local-hostname"] == "web-1.mammatus"
    assert reader["userdata"] == USER_DATA
    assert set(reader["vendordata"]) == {"cloud-init"}
    assert set(reader["vendordata2"]) == {"cloud-init"}
    assert reader["networkdata"]["links"][0]["ethernet_mac_address"] == "02:00:00:00:00:02"
    assert reader["ec2-metadata"]["instance-id"] == instance_id(cloud)


def test_vendor_data_is_valid_under_cloud_inits_schema(cloud, dist_packages):
    # The cloud-config part of vendor-data, as cloud-init itself would validate it.
    vd = json.loads(cloud.get("127.0.0.2", "/openstack/latest/vendor_data.json").body)
    config = yaml.safe_load(vd["cloud-init"])
    code = ("import json,sys; from cloudinit.config.schema import "
            "validate_cloudconfig_schema, get_schema; "
            "validate_cloudconfig_schema(json.load(sys.stdin), get_schema(), strict=True); "
            "print('valid')")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(config), text=True,
                         capture_output=True, env=dict(os.environ, PYTHONPATH=str(dist_packages)))
    assert out.stdout.strip() == "valid", out.stderr
    bad = subprocess.run([sys.executable, "-c", code], input=json.dumps({"runcmd": "x"}),
                         text=True, capture_output=True,
                         env=dict(os.environ, PYTHONPATH=str(dist_packages)))
    assert bad.returncode != 0  # the check itself can fail


def test_cloud_init_stays_out_of_the_machine(cloud, tmp_path):
    before = {p: os.path.exists(p) for p in ("/var/lib/cloud", "/run/cloud-init", "/etc/cloud")}
    run_cloudinit(tmp_path / "ci", "127.0.0.2", "nocloud", cloud.url)
    after = {p: os.path.exists(p) for p in before}
    assert after == before
    assert (tmp_path / "ci" / "cloud" / "instance" / "user-data.txt").exists()


def test_driver_never_leaves_loopback(tmp_path, dist_packages):
    # 192.0.2.1 (TEST-NET-1): the guard refuses before any packet is sent.
    with pytest.raises(RuntimeError, match="Missing mandatory path"):
        run_cloudinit(tmp_path / "ci", "127.0.0.2", "openstack-reader", "http://192.0.2.1")
    log = (tmp_path / "ci" / "cloud-init.log").read_text()
    assert "test guard: connection to 192.0.2.1 refused" in log
