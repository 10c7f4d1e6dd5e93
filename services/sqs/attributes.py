"""Queue names, ARNs, URLs and the queue attributes SQS lets you set, with their limits."""

from __future__ import annotations

import json
import re

from services.awsapi.errors import AwsError, invalid_parameter

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")

# name -> (min, max, default) for integer attributes
INTS = {
    "DelaySeconds": (0, 900, 0),
    "MaximumMessageSize": (1024, 1048576, 1048576),
    "MessageRetentionPeriod": (60, 1209600, 345600),
    "ReceiveMessageWaitTimeSeconds": (0, 20, 0),
    "VisibilityTimeout": (0, 43200, 30),
    "KmsDataKeyReusePeriodSeconds": (60, 86400, 300),
}
STRINGS = {"Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId"}
BOOLS = {"SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue"}
FIFO_ONLY = {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
ENUMS = {"DeduplicationScope": ("messageGroup", "queue"),
         "FifoThroughputLimit": ("perQueue", "perMessageGroupId")}
SETTABLE = set(INTS) | STRINGS | BOOLS | set(ENUMS)
COMPUTED = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
            "QueueArn"}
ALL = SETTABLE | COMPUTED


def check_name(name: str | None, fifo: bool) -> None:
    if not name:
        raise AwsError("MissingParameter", "The request must contain the parameter QueueName.")
    if fifo:
        if not _FIFO_NAME.match(name):
            raise invalid_parameter("The name of a FIFO queue can only include alphanumeric characters, "
                                    "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
    elif not _NAME.match(name):
        raise invalid_parameter("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")


def arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def name_from_arn(value: str) -> str | None:
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        return None
    return parts[5]


def defaults(fifo: bool) -> dict[str, str]:
    out = {k: str(v[2]) for k, v in INTS.items() if k != "KmsDataKeyReusePeriodSeconds"}
    out["SqsManagedSseEnabled"] = "true"
    if fifo:
        out.update(FifoQueue="true", ContentBasedDeduplication="false",
                   DeduplicationScope="queue", FifoThroughputLimit="perQueue")
    return out


def _bad(name: str, value) -> AwsError:
    return AwsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")


def validate(attrs: dict, fifo: bool, creating: bool) -> dict[str, str]:
    """Check user-supplied attributes; return them normalised to strings."""
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise invalid_parameter("Attributes must be a map.")
    out: dict[str, str] = {}
    for name, value in attrs.items():
        if name not in SETTABLE:
            raise AwsError("InvalidAttributeName", f"Unknown Attribute {name}.")
        if name in FIFO_ONLY and not fifo:
            raise AwsError("InvalidAttributeName", f"Unknown Attribute {name}.")
        if name == "FifoQueue" and not creating:
            raise AwsError("InvalidAttributeName", f"Unknown Attribute {name}.")
        value = str(value) if not isinstance(value, bool) else ("true" if value else "false")
        if name in INTS:
            lo, hi, _ = INTS[name]
            try:
                n = int(value)
            except ValueError:
                raise _bad(name, value) from None
            if not lo <= n <= hi:
                raise _bad(name, value)
            out[name] = str(n)
        elif name in BOOLS:
            if value.lower() not in ("true", "false"):
                raise _bad(name, value)
            out[name] = value.lower()
        elif name in ENUMS:
            if value not in ENUMS[name]:
                raise _bad(name, value)
            out[name] = value
        elif name == "RedrivePolicy":
            out[name] = _redrive(value) if value else ""
        elif name in ("Policy", "RedriveAllowPolicy") and value:
            try:
                json.loads(value)
            except ValueError:
                raise _bad(name, value) from None
            out[name] = value
        else:
            out[name] = value
    return out


def _redrive(value: str) -> str:
    try:
        policy = json.loads(value)
        target = policy["deadLetterTargetArn"]
        count = int(policy["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        raise AwsError("InvalidAttributeValue",
                       "Value " + value + " for parameter RedrivePolicy is invalid. Reason: Redrive policy "
                       "is not a valid JSON map or is missing deadLetterTargetArn or maxReceiveCount.") from None
    if not 1 <= count <= 1000 or name_from_arn(target) is None:
        raise AwsError("InvalidAttributeValue",
                       "Value " + value + " for parameter RedrivePolicy is invalid. Reason: "
                       "Invalid value for maxReceiveCount or deadLetterTargetArn.")
    return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": count}, separators=(",", ":"))
