"""S3 policy documents for MinIO (seed design: "policy based bucket access"). Pure.

- `bucket_policy(bucket, "private"|"public-read"|"public-read-write")`: the anonymous bucket
  policy (None for private: no bucket policy at all), the same statements `mc anonymous set
  download|public` writes.
- `user_policy(writes, reads)`: an IAM policy for one MinIO user from the buckets it writes and
  reads (the spec's `writers`/`readers`).
- `user_grants(spec)`: {user: (buckets written, buckets read)} from the spec's buckets.
Validated in the tests by a real MinIO accepting them and enforcing them.
"""

from __future__ import annotations

import json
from typing import Iterable, Optional

from stacks.spec import StackSpec

VERSION = "2012-10-17"
BUCKET_READ = ["s3:GetBucketLocation", "s3:ListBucket"]
BUCKET_WRITE = BUCKET_READ + ["s3:ListBucketMultipartUploads"]
OBJECT_READ = ["s3:GetObject"]
OBJECT_WRITE = OBJECT_READ + ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                              "s3:ListMultipartUploadParts"]


def _arn(bucket: str, objects: bool = False) -> str:
    return f"arn:aws:s3:::{bucket}" + ("/*" if objects else "")


def _statement(actions: list[str], resources: list[str], anonymous: bool) -> dict:
    statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if anonymous:
        statement["Principal"] = {"AWS": ["*"]}
    return statement


def bucket_policy_dict(bucket: str, policy: str) -> Optional[dict]:
    if policy == "private":
        return None
    if policy == "public-read":
        bucket_actions, object_actions = BUCKET_READ, OBJECT_READ
    elif policy == "public-read-write":
        bucket_actions, object_actions = BUCKET_WRITE, OBJECT_WRITE
    else:
        raise ValueError(f"unknown bucket policy {policy!r}")
    return {"Version": VERSION, "Statement": [
        _statement(bucket_actions, [_arn(bucket)], anonymous=True),
        _statement(object_actions, [_arn(bucket, objects=True)], anonymous=True)]}


def bucket_policy(bucket: str, policy: str) -> Optional[str]:
    """The bucket policy JSON text, or None for a private bucket."""
    doc = bucket_policy_dict(bucket, policy)
    return None if doc is None else json.dumps(doc, sort_keys=True)


def user_policy(writes: Iterable[str], reads: Iterable[str]) -> dict:
    """An IAM policy: read-write on `writes`, read-only on `reads` (a bucket in both is written)."""
    writes = sorted(set(writes))
    reads = sorted(set(reads) - set(writes))
    statements = []
    if writes:
        statements.append(_statement(BUCKET_WRITE, [_arn(b) for b in writes], anonymous=False))
        statements.append(_statement(OBJECT_WRITE, [_arn(b, True) for b in writes], anonymous=False))
    if reads:
        statements.append(_statement(BUCKET_READ, [_arn(b) for b in reads], anonymous=False))
        statements.append(_statement(OBJECT_READ, [_arn(b, True) for b in reads], anonymous=False))
    if not statements:
        raise ValueError("a user policy needs at least one bucket")
    return {"Version": VERSION, "Statement": statements}


def user_grants(spec: StackSpec) -> dict[str, tuple[list[str], list[str]]]:
    grants: dict[str, tuple[list[str], list[str]]] = {}
    for bucket in spec.buckets:
        for user in bucket.writers:
            grants.setdefault(user, ([], []))[0].append(bucket.name)
        for user in bucket.readers:
            grants.setdefault(user, ([], []))[1].append(bucket.name)
    return {user: grants[user] for user in sorted(grants)}
