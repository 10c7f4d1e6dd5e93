"""The service over real HTTP on loopback: layouts, IMDSv2, spoofing/SSRF refusals, long polling,
live inventory changes, statelessness across replicas, errors and the access log."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from services.metadata.identity import forward_signature

from .conftest import DB1, WEB1

pytestmark = pytest.mark.integration

TOKEN = "X-aws-ec2-metadata-token"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"


def test_each_source_address_gets_its_own_instance(server):
    web = server.get("127.0.0.2", "/latest/meta-data/instance-id")
    db = server.get("127.0.0.3", "/latest/meta-data/instance-id")
    assert web.status == db.status == 200
    assert web.body.startswith("i-") and db.body.startswith("i-") and web.body != db.body
    assert server.get("127.0.0.2", "/latest/meta-data/local-hostname").body == "web-1.mammatus"
    assert server.get("127.0.0.3", "/latest/meta-data/local-ipv4").body == "127.0.0.3"
    assert server.get("127.0.0.3", "/latest/meta-data/instance-type").body == "lxd.vm"


def test_ec2_tree(server):
    listing = server.get("127.0.0.2", "/latest/meta-data/").body.splitlines()
    for entry in ("ami-id", "instance-id", "instance-type", "local-hostname", "hostname",
                  "local-ipv4", "mac", "public-keys/", "placement/", "network/"):
        assert entry in listing
    assert server.get("127.0.0.2", "/latest/meta-data/public-keys/").body == "0=web1@test"
    key = server.get("127.0.0.2", "/latest/meta-data/public-keys/0/openssh-key").body
    assert key == WEB1["ssh_keys"][0]
    az = server.get("127.0.0.2", "/latest/meta-data/placement/availability-zone")
    assert az.body == "home-a"
    macs = server.get("127.0.0.2", "/latest/meta-data/network/interfaces/macs/").body
    assert macs == "02:00:00:00:00:02/"
    nic = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:02/local-ipv4s"
    assert server.get("127.0.0.2", nic).body == "127.0.0.2"
    assert server.get("127.0.0.2", "/latest/user-data").body == WEB1["user_data"]
    doc = server.get("127.0.0.2", "/latest/dynamic/instance-identity/document")
    assert doc.headers["Content-Type"].startswith("application/json")
    document = json.loads(doc.body)
    assert document["privateIp"] == "127.0.0.2"
    assert document["instanceId"] == server.get("127.0.0.2", "/latest/meta-data/instance-id").body


@pytest.mark.parametrize("version", ["2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04"])
def test_every_version_cloud_init_probes_answers(server, version):
    assert version in server.get("127.0.0.2", "/").body.splitlines()
    reply = server.get("127.0.0.2", f"/{version}/meta-data/instance-id")
    assert reply.status == 200
    assert reply.body == server.get("127.0.0.2", "/latest/meta-data/instance-id").body


def test_unknown_paths_are_404(server):
    assert server.get("127.0.0.2", "/1999-01-01/meta-data/").status == 404
    assert server.get("127.0.0.2", "/latest/meta-data/nope").status == 404
    assert server.get("127.0.0.3", "/latest/user-data").status == 404  # db-1 has none
    assert server.get("127.0.0.2", "/openstack/latest/nope.json").status == 404


def test_unknown_source_is_refused_never_served(server):
    for source in ("127.0.0.1", "127.0.0.9"):
        reply = server.get(source, "/latest/meta-data/instance-id")
        assert reply.status == 403
        assert "not proven" in reply.body
        put = server.request(source, "PUT", "/latest/api/token", {TTL: "60"})
        assert put.status == 403


def test_x_forwarded_for_is_not_identity(server):
    # Claiming to be web-1 in a header changes nothing: identity is the TCP peer.
    reply = server.get("127.0.0.9", "/latest/meta-data/instance-id", X_Forwarded_For="127.0.0.2")
    assert reply.status == 403
    reply = server.get("127.0.0.3", "/latest/meta-data/local-hostname",
                       X_Forwarded_For="127.0.0.2")
    assert reply.body == "db-1.mammatus"


def test_imdsv2_token_flow(server):
    put = server.request("127.0.0.2", "PUT", "/latest/api/token", {TTL: "21600"})
    assert put.status == 200 and put.headers[TTL] == "21600"
    reply = server.get("127.0.0.2", "/latest/meta-data/instance-id", **{TOKEN: put.body})
    assert reply.status == 200 and reply.body.startswith("i-")


@pytest.mark.parametrize("ttl", [None, "0", "21601", "-5", "abc", ""])
def test_token_ttl_must_be_1_to_21600(server, ttl):
    headers = {} if ttl is None else {TTL: ttl}
    reply = server.request("127.0.0.2", "PUT", "/latest/api/token", headers)
    assert reply.status == 400
    assert "ttl-seconds" in reply.body


def test_token_put_with_x_forwarded_for_is_refused(server):
    reply = server.request("127.0.0.2", "PUT", "/latest/api/token",
                           {TTL: "60", "X-Forwarded-For": "10.1.2.3"})
    assert reply.status == 403
    assert "X-Forwarded-For" in reply.body


def test_token_from_another_instance_is_401(server):
    token = server.token("127.0.0.3")
    reply = server.get("127.0.0.2", "/latest/meta-data/instance-id", **{TOKEN: token})
    assert reply.status == 401
    assert "another instance" in reply.body


def test_expired_and_forged_tokens_are_401(server):
    token = server.token("127.0.0.2", ttl=1)
    assert server.get("127.0.0.2", "/latest/meta-data/", **{TOKEN: token}).status == 200
    time.sleep(2.1)
    expired = server.get("127.0.0.2", "/latest/meta-data/", **{TOKEN: token})
    assert expired.status == 401 and "expired" in expired.body
    for forged in ("garbage", token[:-3] + "AAA", "v1.e30.AAAA"):
        assert server.get("127.0.0.2", "/latest/meta-data/", **{TOKEN: forged}).status == 401


def test_token_is_invalid_once_the_ip_moves_to_another_mac(server):
    token = server.token("127.0.0.2")
    # web-1 goes away and db-1's NIC now holds 127.0.0.2.
    server.write_leases(["0 02:00:00:00:00:03 127.0.0.2 db-1 *"])
    reply = server.get("127.0.0.2", "/latest/meta-data/instance-id", **{TOKEN: token})
    assert reply.status == 401


def test_required_tokens(make_server):
    server = make_server({"tokens": {"required": True}})
    bare = server.get("127.0.0.2", "/latest/meta-data/instance-id")
    assert bare.status == 401 and "token is required" in bare.body
    token = server.token("127.0.0.2")
    assert server.get("127.0.0.2", "/latest/meta-data/instance-id", **{TOKEN: token}).status == 200


# Every layout serves the same user-data: "required" must hold on all of them, or it guards
# nothing (NoCloud and OpenStack clients never send tokens: use the Ec2 datasource with it).
@pytest.mark.parametrize("path", ["/", "/latest/user-data", "/nocloud/", "/nocloud/user-data",
                                  "/nocloud/meta-data", "/openstack",
                                  "/openstack/latest/user_data",
                                  "/openstack/latest/meta_data.json",
                                  "/openstack/latest/vendor_data2.json"])
def test_required_tokens_guard_every_layout(make_server, path):
    server = make_server({"tokens": {"required": True}})
    bare = server.get("127.0.0.2", path)
    assert bare.status == 401 and "token is required" in bare.body
    assert server.get("127.0.0.2", path, **{TOKEN: "v1.forged.token"}).status == 401
    token = server.token("127.0.0.2")
    assert server.get("127.0.0.2", path, **{TOKEN: token}).status == 200
    assert server.get("127.0.0.3", path, **{TOKEN: token}).status == 401  # web-1's, not db-1's


def test_tokens_optional_by_default(server):
    assert server.get("127.0.0.2", "/latest/meta-data/instance-id").status == 200


def test_two_replicas_serve_the_same_answers_and_accept_each_others_tokens(make_server):
    a = make_server(name="a")
    b = make_server({"tokens": {"secret_file": str(a.secret_file)},
                     "identity": {"leases": [str(a.leases_file)],
                                  "inventories": [{"type": "file",
                                                   "path": str(a.inventory_file)}]}}, name="b")
    for path in ("/latest/meta-data/instance-id", "/nocloud/vendor-data",
                 "/openstack/latest/vendor_data2.json", "/latest/dynamic/instance-identity/document"):
        ra, rb = a.get("127.0.0.2", path), b.get("127.0.0.2", path)
        assert ra.status == rb.status == 200
        assert ra.body == rb.body and ra.headers["ETag"] == rb.headers["ETag"]
    token = a.token("127.0.0.2")
    assert b.get("127.0.0.2", "/latest/meta-data/", **{TOKEN: token}).status == 200


def test_instances_added_and_removed_without_restart(server):
    assert server.get("127.0.0.4", "/latest/meta-data/instance-id").status == 403
    new = {"name": "cache-1", "macs": ["02:00:00:00:00:04"]}
    server.write_inventory([WEB1, DB1, new])
    assert server.get("127.0.0.4", "/latest/meta-data/instance-id").status == 403  # no lease yet
    server.write_leases(["0 02:00:00:00:00:02 127.0.0.2 web-1 *",
                         "0 02:00:00:00:00:03 127.0.0.3 db-1 *",
                         "0 02:00:00:00:00:04 127.0.0.4 cache-1 *"])
    added = server.get("127.0.0.4", "/latest/meta-data/local-hostname")
    assert added.status == 200 and added.body == "cache-1.mammatus"
    server.write_inventory([WEB1, new])  # db-1 deleted; its lease lingers until expiry
    assert server.get("127.0.0.3", "/latest/meta-data/instance-id").status == 403


def test_expired_lease_is_not_proof(server):
    server.write_leases([f"{int(time.time()) - 10} 02:00:00:00:00:02 127.0.0.2 web-1 *"])
    assert server.get("127.0.0.2", "/latest/meta-data/instance-id").status == 403


def test_ambiguous_mac_is_refused(server):
    twin = dict(DB1, name="twin", macs=WEB1["macs"])
    server.write_inventory([WEB1, twin])
    reply = server.get("127.0.0.2", "/latest/meta-data/instance-id")
    assert reply.status == 403 and "several instances" in reply.body


def test_long_poll_returns_on_change(server):
    first = server.get("127.0.0.2", "/latest/meta-data/public-keys/0/openssh-key")
    result = {}

    def watch():
        result["reply"] = server.get(
            "127.0.0.2", "/latest/meta-data/public-keys/0/openssh-key?wait_for_change=true"
                         f"&last_etag={first.headers['ETag']}&timeout_sec=20")

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)
    assert watcher.is_alive()  # still waiting: nothing changed yet
    new_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAInewkey rotated@test"
    server.write_inventory([dict(WEB1, ssh_keys=[new_key]), DB1])
    watcher.join(timeout=20)
    reply = result["reply"]
    assert reply.status == 200 and reply.body == new_key
    assert reply.headers["ETag"] != first.headers["ETag"]


def test_long_poll_with_stale_etag_returns_at_once_and_times_out_unchanged(server):
    reply = server.get("127.0.0.2", "/latest/meta-data/instance-id?wait_for_change=true"
                                    "&last_etag=stale&timeout_sec=20")
    assert reply.status == 200 and reply.body.startswith("i-")
    same = server.get("127.0.0.2", "/latest/meta-data/instance-id?wait_for_change=true"
                                   f"&last_etag={reply.headers['ETag']}&timeout_sec=0.3")
    assert same.status == 200 and same.headers["ETag"] == reply.headers["ETag"]


@pytest.mark.parametrize("query,message", [
    ("wait_for_change=maybe", "wait_for_change"),
    ("wait_for_change=true&timeout_sec=abc", "timeout_sec"),
    ("wait_for_change=true&timeout_sec=100000", "timeout_sec"),
])
def test_malformed_long_poll_is_400(server, query, message):
    reply = server.get("127.0.0.2", f"/latest/meta-data/instance-id?{query}")
    assert reply.status == 400 and message in reply.body


def test_wrong_methods_are_405(server):
    assert server.get("127.0.0.2", "/latest/api/token").status == 405
    assert server.request("127.0.0.2", "POST", "/latest/meta-data/").status == 405
    assert server.request("127.0.0.2", "PUT", "/latest/meta-data/").status == 405


def test_nocloud_layout(server):
    import yaml
    md = yaml.safe_load(server.get("127.0.0.2", "/nocloud/meta-data").body)
    assert md["local-hostname"] == "web-1.mammatus" and md["instance-id"].startswith("i-")
    assert md["public-keys"] == WEB1["ssh_keys"]
    assert server.get("127.0.0.2", "/nocloud/user-data").body == WEB1["user_data"]
    assert server.get("127.0.0.3", "/nocloud/user-data").body == ""  # empty, not 404
    vendor = server.get("127.0.0.2", "/nocloud/vendor-data").body
    assert "multipart/mixed" in vendor and "mammatus-agents.sh" in vendor
    net = yaml.safe_load(server.get("127.0.0.2", "/nocloud/network-config").body)
    assert net["ethernets"]["primary"]["match"]["macaddress"] == "02:00:00:00:00:02"


def test_openstack_layout(server):
    assert "latest" in server.get("127.0.0.2", "/openstack").body.splitlines()
    files = server.get("127.0.0.2", "/openstack/latest/").body.splitlines()
    assert {"meta_data.json", "user_data", "vendor_data.json", "vendor_data2.json",
            "network_data.json"} <= set(files)
    md = json.loads(server.get("127.0.0.2", "/openstack/2018-08-27/meta_data.json").body)
    assert md["name"] == "web-1" and md["public_keys"] == {"web1@test": WEB1["ssh_keys"][0]}
    for name in ("vendor_data.json", "vendor_data2.json"):
        assert "cloud-init" in json.loads(server.get("127.0.0.2", f"/openstack/latest/{name}").body)
    nd = json.loads(server.get("127.0.0.2", "/openstack/latest/network_data.json").body)
    assert nd["links"][0]["ethernet_mac_address"] == "02:00:00:00:00:02"


def test_signed_proxy_forwarding(make_server, tmp_path):
    key = tmp_path / "proxy.key"
    key.write_bytes(b"relay-secret-0123456789")
    server = make_server({"identity": {"proxies": [{"address": "127.0.0.5",
                                                    "secret_file": str(key)}]}})
    good = forward_signature(b"relay-secret-0123456789", "127.0.0.3")
    ok = server.get("127.0.0.5", "/latest/meta-data/local-hostname",
                    X_Forwarded_For="127.0.0.3", X_Mammatus_Forwarded_Signature=good)
    assert ok.status == 200 and ok.body == "db-1.mammatus"
    bad = server.get("127.0.0.5", "/latest/meta-data/local-hostname",
                     X_Forwarded_For="127.0.0.2", X_Mammatus_Forwarded_Signature=good)
    assert bad.status == 403
    # The same signed header from a host that is not the configured relay is ignored.
    other = server.get("127.0.0.3", "/latest/meta-data/local-hostname",
                       X_Forwarded_For="127.0.0.2", X_Mammatus_Forwarded_Signature=good)
    assert other.body == "db-1.mammatus"
    # A token PUT relayed for an instance whose own request already had X-Forwarded-For: SSRF.
    relayed = server.request("127.0.0.5", "PUT", "/latest/api/token",
                             {TTL: "60", "X-Forwarded-For": "10.0.0.7, 127.0.0.3",
                              "X-Mammatus-Forwarded-Signature": good})
    assert relayed.status == 403


def test_access_log_has_requests_but_no_secrets(server):
    token = server.token("127.0.0.2")
    server.get("127.0.0.2", "/latest/user-data", **{TOKEN: token})
    server.get("127.0.0.2", "/nocloud/vendor-data")
    server.get("127.0.0.9", "/latest/meta-data/")
    log = server.log()
    assert '127.0.0.2 web-1 "GET /latest/user-data" 200' in log
    assert '127.0.0.9 - "GET /latest/meta-data/" 403' in log
    assert token not in log and token.split(".")[2] not in log
    assert "user-data-marker" not in log and "retry_join" not in log


def test_workers_share_the_port_and_the_token_key(make_server):
    # No tokens.secret_file: the key is made once, before the workers fork.
    server = make_server({"tokens": {"secret_file": None}}, args=("--workers", "2"))
    token = server.token("127.0.0.2")
    statuses = {server.get("127.0.0.2", "/latest/meta-data/", **{TOKEN: token}).status
                for _ in range(40)}
    assert statuses == {200}
    pids = {int(line.split("[")[1].split("]")[0])
            for line in server.log().splitlines() if "listening on" in line}
    assert len(pids) == 2 and server.proc.pid in pids
    server.stop()
    for pid in pids:  # the parent takes its workers down with it
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_access_log_cannot_be_forged_with_encoded_newlines(server):
    server.get("127.0.0.2", "/latest/meta-data/%0A2026-01-01%20forged%20line")
    log = server.log()
    assert "%0A2026-01-01%20forged" in log
    assert not any(line.startswith("2026-01-01 forged") for line in log.splitlines())


def test_required_tokens_hide_even_what_exists(make_server):
    server = make_server({"tokens": {"required": True}})
    assert server.get("127.0.0.2", "/latest/meta-data/no-such-key").status == 401
    assert server.get("127.0.0.2", "/1999-01-01/").status == 401
