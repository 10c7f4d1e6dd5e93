import json

import pytest

from components.render import minio_policy
from tests.support.netlab import stack_spec


def test_private_bucket_has_no_policy():
    assert minio_policy.bucket_policy("backups", "private") is None


def test_public_read_allows_anonymous_get_and_list_only():
    doc = json.loads(minio_policy.bucket_policy("assets", "public-read"))
    assert doc["Version"] == "2012-10-17"
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert actions == {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"}
    assert all(s["Principal"] == {"AWS": ["*"]} for s in doc["Statement"])
    resources = {r for s in doc["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::assets", "arn:aws:s3:::assets/*"}


def test_public_read_write_adds_put_and_delete():
    doc = minio_policy.bucket_policy_dict("assets", "public-read-write")
    object_actions = doc["Statement"][1]["Action"]
    assert "s3:PutObject" in object_actions and "s3:DeleteObject" in object_actions


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError):
        minio_policy.bucket_policy("x", "world-writable")


def test_user_policy_writes_and_reads():
    doc = minio_policy.user_policy(["backups"], ["assets", "backups"])
    assert "Principal" not in doc["Statement"][0]
    by_resource = {tuple(s["Resource"]): s["Action"] for s in doc["Statement"]}
    assert "s3:PutObject" in by_resource[("arn:aws:s3:::backups/*",)]
    assert by_resource[("arn:aws:s3:::assets/*",)] == ["s3:GetObject"]   # read-only
    with pytest.raises(ValueError):
        minio_policy.user_policy([], [])


def test_user_grants_from_the_home_stack():
    grants = minio_policy.user_grants(stack_spec("home"))
    assert grants == {"backup": (["backups"], []), "web": (["public-assets"], [])}
