"""SQS's legacy query/XML names: flattened members carry a singular name on the wire."""

from services.awsapi.server import ServiceSpec

QUERY_IN = {
    "Attribute": ("Attributes", "map"),
    "AttributeName": ("AttributeNames", "list"),
    "MessageAttribute": ("MessageAttributes", "map"),
    "MessageAttributeName": ("MessageAttributeNames", "list"),
    "MessageSystemAttribute": ("MessageSystemAttributes", "map"),
    "MessageSystemAttributeName": ("MessageSystemAttributeNames", "list"),
    "Tag": ("Tags", "map"),
    "Tags": ("Tags", "map"),
    "TagKey": ("TagKeys", "list"),
    "SendMessageBatchRequestEntry": ("Entries", "list"),
    "DeleteMessageBatchRequestEntry": ("Entries", "list"),
    "ChangeMessageVisibilityBatchRequestEntry": ("Entries", "list"),
    "StringListValue": ("StringListValues", "list"),
    "BinaryListValue": ("BinaryListValues", "list"),
}

# JSON member -> (element, kind, key element, value element)
QUERY_OUT = {
    "Messages": ("Message", "list"),
    "Attributes": ("Attribute", "map", "Name", "Value"),
    "MessageAttributes": ("MessageAttribute", "map", "Name", "Value"),
    "QueueUrls": ("QueueUrl", "list"),
    "queueUrls": ("QueueUrl", "list"),
    "Failed": ("BatchResultErrorEntry", "list"),
    "Tags": ("Tag", "map", "Key", "Value"),
    "Results": ("Result", "list"),
    "StringListValues": ("StringListValue", "list"),
    "BinaryListValues": ("BinaryListValue", "list"),
}

# "Successful" entries are named after the action's result entry type
BY_ACTION = {
    a: {"Successful": (f"{a}ResultEntry", "list")}
    for a in ("SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch")
}

SPEC = ServiceSpec(
    signing_name="sqs",
    xmlns="http://queue.amazonaws.com/doc/2012-11-05/",
    json_prefix="AmazonSQS",
    json_namespace="com.amazonaws.sqs",
    query_in=QUERY_IN,
    query_out=QUERY_OUT,
    query_out_by_action=BY_ACTION,
    max_body=12 * 1024 * 1024,
)
