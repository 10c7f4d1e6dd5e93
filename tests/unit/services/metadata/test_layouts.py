import json

import pytest
import yaml

from services.metadata.server import HttpError, answer_for, etag_of
from services.metadata.tree import Dir, listing, lookup, render

from .helpers import CONFIG, DB, WEB, ident


def get(path, who=None):
    return answer_for(CONFIG, who or ident(), path)[1].body


def test_tree_rendering():
    tree = Dir({"a": "1", "b": {"c": ["x", "y"]}, "k": Dir({"0": {}}, labels={"0": "0=name"})})
    assert listing(tree) == "a\nb/\nk/"
    assert render(lookup(tree, "b/c")) == "x\ny"
    assert render(lookup(tree, "/k/")) == "0=name"
    with pytest.raises(KeyError):
        lookup(tree, "a/b")


def test_ec2_root_and_versions():
    versions = get("/").splitlines()
    for v in ("2009-04-04", "2016-09-02", "2018-09-24", "2021-03-23", "latest"):
        assert v in versions
    assert get("/latest/").splitlines() == ["dynamic/", "meta-data/", "user-data"]
    assert "user-data" not in get("/latest/", ident(DB)).splitlines()


def test_ec2_meta_data():
    assert get("/latest/meta-data/instance-id") == "i-0123456789abcdef0"
    assert get("/latest/meta-data/hostname") == "web-1.lab.example"
    assert get("/latest/meta-data/local-ipv4") == "10.0.0.10"
    assert get("/latest/meta-data/mac") == "02:00:00:00:00:02"
    assert get("/latest/meta-data/placement/availability-zone") == "lab-a"
    assert get("/latest/meta-data/public-keys/") == "0=alice@laptop\n1=key-1"
    assert get("/latest/meta-data/public-keys/1/") == "openssh-key"
    assert get("/latest/meta-data/public-keys/1/openssh-key") == "ssh-rsa AAAAkey2"
    nic = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:02/"
    assert "subnet-ipv4-cidr-block" in get(nic).splitlines()
    assert get(nic + "subnet-ipv4-cidr-block") == "10.0.0.0/24"
    assert get("/latest/meta-data/tags/instance/role") == "web"
    assert get("/2009-04-04/user-data") == WEB.user_data


def test_identity_document():
    doc = json.loads(get("/latest/dynamic/instance-identity/document"))
    assert doc["instanceId"] == WEB.instance_id and doc["privateIp"] == "10.0.0.10"
    assert doc["region"] == "lab" and doc["availabilityZone"] == "lab-a"


@pytest.mark.parametrize("path,status", [
    ("/latest/meta-data/nope", 404), ("/2000-01-01/meta-data/", 404),
    ("/latest/api/token", 405), ("/nocloud/nope", 404), ("/nocloud/meta-data/x", 404),
    ("/openstack/1999-01-01/meta_data.json", 404), ("/openstack/latest/a/b", 404),
    ("/computeMetadata/v1/", 404),
])
def test_errors(path, status):
    with pytest.raises(HttpError) as err:
        get(path)
    assert err.value.status == status


def test_nocloud():
    md = yaml.safe_load(get("/nocloud/meta-data"))
    assert md["instance-id"] == WEB.instance_id and md["local-hostname"] == "web-1.lab.example"
    assert md["public-keys"] == list(WEB.ssh_keys)
    assert get("/nocloud/user-data", ident(DB)) == ""
    net = yaml.safe_load(get("/nocloud/network-config"))
    assert net == {"version": 2, "ethernets": {"primary": {
        "match": {"macaddress": "02:00:00:00:00:02"}, "dhcp4": True}}}


def test_openstack():
    assert get("/openstack").splitlines()[-1] == "latest"
    md = json.loads(get("/openstack/latest/meta_data.json"))
    assert md["uuid"] == WEB.instance_id and md["hostname"] == "web-1.lab.example"
    assert md["public_keys"] == {"alice@laptop": WEB.ssh_keys[0], "key-1": WEB.ssh_keys[1]}
    assert md["meta"] == {"role": "web"}
    assert "user_data" not in get("/openstack/latest/", ident(DB)).splitlines()
    with pytest.raises(HttpError):
        get("/openstack/latest/user_data", ident(DB))
    static = json.loads(get("/openstack/latest/vendor_data.json"))
    dynamic = json.loads(get("/openstack/2018-08-27/vendor_data2.json"))
    assert static["cloud-init"].startswith("#cloud-config")
    assert "mammatus-agents.sh" in dynamic["cloud-init"]
    net = json.loads(get("/openstack/latest/network_data.json"))
    assert net["networks"][0]["link"] == net["links"][0]["id"]


def test_answers_are_deterministic():
    # Two replicas (or two requests) render byte-identical documents, so ETags agree.
    for path in ("/nocloud/vendor-data", "/openstack/latest/vendor_data2.json",
                 "/latest/meta-data/"):
        assert etag_of(get(path)) == etag_of(get(path))
    assert etag_of(get("/nocloud/vendor-data")) != etag_of(get("/nocloud/vendor-data", ident(DB)))


def test_peer_address_unmaps_ipv4_in_ipv6():
    from types import SimpleNamespace
    from services.metadata.server import peer_address
    assert peer_address(SimpleNamespace(remote="::ffff:10.0.0.10")) == "10.0.0.10"
    assert peer_address(SimpleNamespace(remote="10.0.0.10")) == "10.0.0.10"
    assert peer_address(SimpleNamespace(remote="fd00::1")) == "fd00::1"
    assert peer_address(SimpleNamespace(remote=None)) == ""
