"""MinIO provider builders/parsers (the real server: tests/integration/…/test_minio.py)."""

import json

import dill

from components.render import minio_policy
from dynamic_providers import minio as m

CONN = {"endpoint": "10.0.0.21:9000", "access_key": "root", "secret_key": "x" * 12, "secure": False}


def test_policy_names_and_json():
    assert m.user_policy_name("backup") == "mammatus-backup"
    assert m.policy_json({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    assert m.policy_json('{"b":1}') == '{"b": 1}' and m.policy_json(None) is None


def test_parse_user_info_and_policy_info():
    assert m.parse_user_info('{"policyName":"mammatus-backup,readwrite","status":"enabled"}') == \
        {"policies": ["mammatus-backup", "readwrite"], "enabled": True}
    assert m.parse_user_info('{"status":"disabled"}') == {"policies": [], "enabled": False}
    doc = {"Version": "2012-10-17", "Statement": []}
    assert m.parse_policy_info(json.dumps({"PolicyName": "p", "Policy": doc})) == doc
    shuffled = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}]}
    assert m.parse_policy_info(json.dumps(shuffled))["Statement"][0] == {
        "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::b/*"]}
    assert m.parse_policy_info(json.dumps(doc)) == doc


def test_bucket_policy_as_minio_returns_it_compares_equal():
    sent = minio_policy.bucket_policy("assets", "public-read")
    # MinIO answers with one-element lists as strings and its own statement order.
    doc = json.loads(sent)
    returned = {"Version": doc["Version"], "Statement": [
        {**s, "Action": s["Action"] if len(s["Action"]) > 1 else s["Action"][0],
         "Resource": s["Resource"][0], "Principal": {"AWS": "*"}}
        for s in reversed(doc["Statement"])]}
    assert m.parse_bucket_policy(json.dumps(returned)) == m.canonical_bucket_policy(sent)
    assert m.parse_bucket_policy("") is None


def test_checks():
    bucket = m.BucketProvider().check({}, {"name": "Bad", "policy": "{nope", "connection": {}})
    assert {f.property for f in bucket.failures} == {"name", "policy", "connection"}
    user = m.UserProvider().check({}, {"access_key": "a b", "secret_key": "short",
                                       "policy": None, "connection": {**CONN, "endpoint": "http://x:9000"}})
    assert {f.property for f in user.failures} == {"access_key", "secret_key", "connection"}
    ok = m.UserProvider().check({}, {"access_key": "backup", "secret_key": "s" * 20,
                                     "policy": minio_policy.user_policy(["b"], []), "connection": CONN})
    assert not ok.failures


def test_diff():
    old = {"name": "b", "policy": None, "connection": CONN}
    assert m.BucketProvider().diff("b", old, {**old, "policy": "{}"}).replaces == []
    assert m.BucketProvider().diff("b", old, {**old, "name": "c"}).replaces == ["name"]
    rotated = m.BucketProvider().diff("b", old, {**old, "connection": {**CONN, "secret_key": "y" * 12}})
    assert rotated.changes and rotated.replaces == []
    moved = m.BucketProvider().diff("b", old, {**old, "connection": {**CONN, "endpoint": "10.0.0.22:9000"}})
    assert moved.replaces == ["connection"]


def test_providers_pickle():
    assert isinstance(dill.loads(dill.dumps(m.UserProvider())), m.UserProvider)


def test_with_the_clouds_root_the_clients_trust_it_alone():
    from tests.support.pki import make_pki
    assert m._http_client(CONN) is None                 # the SDK's own pool
    root = make_pki().root_pem
    pool = m._http_client({**CONN, "secure": True, "ca_pem": root})
    assert pool.connection_pool_kw["ca_cert_data"] == root
    assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert m._client({**CONN, "secure": True, "ca_pem": root})._http.connection_pool_kw["ca_cert_data"] == root
