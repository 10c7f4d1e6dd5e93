"""SNS topics, SQS queues and SNS subscriptions on the cloud's own SNS/SQS services
(services/sns, services/sqs: AWS-compatible APIs backed by NATS), through boto3.

`connection` is {endpoint: "http(s)://host:port", region, access_key, secret_key, ca_pem?} (a
secret). With `ca_pem` (the cloud CA's root, when the services speak HTTPS) boto3 verifies the
endpoint against that root alone. The request builders (`topic_request`, `queue_request`,
`subscription_request`, `queue_arn`, `topic_arn`) and parsers (`parse_queue_attributes`,
`parse_topic_attributes`) are pure; boto3 clients are built inside each call (the provider is
pickled with dill). check and diff never connect.

A resource lives on the daemon at host:port, whichever scheme reaches it: a stack that gains a CA
updates its topics, queues and subscriptions in place (their connection now HTTPS with the
root), it does not replace them.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from typing import Any, Iterator, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.preview import known_failures
from dynamic_providers.base import MammatusProvider



DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"   # the services' default account id


# ---------------------------------------------------------------- pure builders

def queue_arn(name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def topic_arn(name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def topic_request(props: dict) -> dict:
    """sns.create_topic(**request)."""
    attributes = {}
    if props["name"].endswith(".fifo"):
        attributes["FifoTopic"] = "true"
        attributes["ContentBasedDeduplication"] = "true"
    return {"Name": props["name"], "Attributes": attributes}


def queue_attributes(props: dict) -> dict[str, str]:
    attributes = {
        "VisibilityTimeout": str(int(props.get("visibility_timeout", 30))),
        "MessageRetentionPeriod": str(int(props.get("retention_seconds", 345600))),
    }
    if props.get("dead_letter_queue"):
        attributes["RedrivePolicy"] = json.dumps({
            "deadLetterTargetArn": queue_arn(props["dead_letter_queue"], props.get("region", DEFAULT_REGION),
                                             props.get("account", DEFAULT_ACCOUNT)),
            "maxReceiveCount": int(props.get("max_receive_count", 5))}, sort_keys=True)
    return attributes


def queue_request(props: dict) -> dict:
    """sqs.create_queue(**request)."""
    attributes = queue_attributes(props)
    if props["name"].endswith(".fifo"):
        attributes["FifoQueue"] = "true"
        attributes["ContentBasedDeduplication"] = "true"
    return {"QueueName": props["name"], "Attributes": attributes}


def queue_update_request(queue_url: str, props: dict) -> dict:
    """sqs.set_queue_attributes(**request): the mutable attributes only."""
    return {"QueueUrl": queue_url, "Attributes": queue_attributes(props)}


def daemon(endpoint: Any) -> Any:
    """host:port of an endpoint URL: the daemon, whichever scheme reaches it."""
    return endpoint.split("://", 1)[-1].rstrip("/") if isinstance(endpoint, str) else endpoint


def current_queue_url(queue_url: str, connection: dict) -> str:
    """A queue's URL as the service now gives it: the same path, the connection's scheme (a
    queue made over HTTP keeps its id when the service moves to HTTPS)."""
    scheme = str(connection.get("endpoint", "")).split("://", 1)[0]
    rest = queue_url.split("://", 1)[-1]
    return f"{scheme}://{rest}" if scheme in ("http", "https") else queue_url


def subscription_request(props: dict) -> dict:
    """sns.subscribe(**request): an http(s) endpoint (a function) or an sqs queue ARN."""
    request = {"TopicArn": props["topic_arn"], "Protocol": props["protocol"],
               "Endpoint": props["endpoint"], "ReturnSubscriptionArn": True}
    if props.get("raw_message_delivery"):
        request["Attributes"] = {"RawMessageDelivery": "true"}
    return request


# ---------------------------------------------------------------- pure parsers

def parse_queue_attributes(attributes: dict[str, str]) -> dict:
    out: dict[str, Any] = {
        "visibility_timeout": int(attributes.get("VisibilityTimeout", 30)),
        "retention_seconds": int(attributes.get("MessageRetentionPeriod", 345600)),
        "arn": attributes.get("QueueArn"),
        "fifo": attributes.get("FifoQueue") == "true",
        "dead_letter_queue": None,
        "max_receive_count": None,
    }
    if attributes.get("RedrivePolicy"):
        policy = json.loads(attributes["RedrivePolicy"])
        out["dead_letter_queue"] = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
        out["max_receive_count"] = int(policy["maxReceiveCount"])
    return out


def parse_topic_attributes(attributes: dict[str, str]) -> dict:
    return {"arn": attributes.get("TopicArn"), "fifo": attributes.get("FifoTopic") == "true"}


# ---------------------------------------------------------------- checks and diffs

def _check_connection(conn, failures: list) -> None:
    if not isinstance(conn, dict) or not str(conn.get("endpoint", "")).startswith(("http://", "https://")):
        failures.append(CheckFailure("connection", "must be {endpoint: http(s)://…, region, access_key, secret_key}"))


@contextlib.contextmanager
def _trusted_root(ca_pem: Optional[str]) -> Iterator[Optional[str]]:
    """What boto3's `verify` takes: a file holding the cloud's root for the client's lifetime
    (botocore reads a CA bundle only from a path, on every new connection); None without one
    (the system's roots, as for any https endpoint)."""
    if not ca_pem:
        yield None
        return
    with tempfile.NamedTemporaryFile("w", prefix="mammatus-ca-", suffix=".pem") as bundle:
        bundle.write(ca_pem)
        bundle.flush()
        yield bundle.name


@contextlib.contextmanager
def _client(service: str, conn: dict):
    import boto3
    from botocore.config import Config

    with _trusted_root(conn.get("ca_pem")) as verify:
        # The service may have been (re)started a moment ago by the same `up`: keep trying to
        # connect for a while (standard mode backs off exponentially between attempts).
        yield boto3.client(service, endpoint_url=conn["endpoint"],
                           region_name=conn.get("region", DEFAULT_REGION),
                           aws_access_key_id=conn["access_key"],
                           aws_secret_access_key=conn["secret_key"], verify=verify,
                           config=Config(retries={"mode": "standard", "max_attempts": 10},
                                         connect_timeout=5))


def _error_code(exc) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


# ---------------------------------------------------------------- providers

OUTPUTS = ("arn", "url")  # what the service assigns


class _AwsApiProvider(MammatusProvider):
    """What the three share: the daemon is the endpoint's host:port; a new key is no change
    (connection_updates), a new scheme or root (the cloud gained a CA) is an update in place."""
    outputs = OUTPUTS
    target = ("endpoint",)
    connection_updates = False

    def target_of(self, connection):
        return (daemon(connection.get("endpoint")),) if isinstance(connection, dict) else connection

    def view(self, props):
        conn = props.get("connection")
        if not isinstance(conn, dict):
            return props
        return {**props, "tls": [str(conn.get("endpoint", "")).split("://", 1)[0], conn.get("ca_pem")]}


class TopicProvider(_AwsApiProvider):
    immutable = ("name", "connection")

    def check(self, _olds, news):
        failures: list = []
        if not news.get("name"):
            failures.append(CheckFailure("name", "a topic needs a name"))
        _check_connection(news.get("connection"), failures)
        return CheckResult(news, known_failures(news, failures))

    def create(self, props):
        with _client("sns", props["connection"]) as sns:
            arn = sns.create_topic(**topic_request(props))["TopicArn"]
        return CreateResult(id_=arn, outs={**props, "arn": arn})

    def update(self, id_, _olds, news):
        return UpdateResult(outs={**news, "arn": id_})

    def read(self, id_, props):
        from botocore.exceptions import ClientError
        try:
            with _client("sns", props["connection"]) as sns:
                attributes = sns.get_topic_attributes(TopicArn=id_)["Attributes"]
        except ClientError as exc:
            if _error_code(exc) in ("NotFound", "NotFoundException"):
                return ReadResult(None, {})
            raise
        state = {**props, "arn": parse_topic_attributes(attributes)["arn"] or id_}
        return ReadResult(id_, state, {k: v for k, v in state.items() if k != "arn"})

    def delete(self, id_, props):
        with _client("sns", props["connection"]) as sns:
            sns.delete_topic(TopicArn=id_)


class QueueProvider(_AwsApiProvider):
    immutable = ("name", "connection")

    def check(self, _olds, news):
        failures: list = []
        if not news.get("name"):
            failures.append(CheckFailure("name", "a queue needs a name"))
        if news.get("dead_letter_queue") and news["dead_letter_queue"] == news.get("name"):
            failures.append(CheckFailure("dead_letter_queue", "a queue cannot be its own dead-letter queue"))
        _check_connection(news.get("connection"), failures)
        return CheckResult(news, known_failures(news, failures))

    def _outs(self, client, url: str, props: dict) -> dict:
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return {**props, "url": current_queue_url(url, props["connection"]),
                "arn": parse_queue_attributes(attributes)["arn"]}

    def create(self, props):
        with _client("sqs", props["connection"]) as client:
            url = client.create_queue(**queue_request(props))["QueueUrl"]
            return CreateResult(id_=url, outs=self._outs(client, url, props))

    def update(self, id_, _olds, news):
        with _client("sqs", news["connection"]) as client:
            client.set_queue_attributes(**queue_update_request(id_, news))
            return UpdateResult(outs=self._outs(client, id_, news))

    def read(self, id_, props):
        from botocore.exceptions import ClientError
        try:
            with _client("sqs", props["connection"]) as client:
                attributes = client.get_queue_attributes(QueueUrl=id_, AttributeNames=["All"])["Attributes"]
        except ClientError as exc:
            if "NonExistentQueue" in _error_code(exc) or _error_code(exc) == "QueueDoesNotExist":
                return ReadResult(None, {})
            raise
        found = parse_queue_attributes(attributes)
        state = {**props, "url": current_queue_url(id_, props["connection"]), "arn": found["arn"],
                 "visibility_timeout": found["visibility_timeout"],
                 "retention_seconds": found["retention_seconds"],
                 "dead_letter_queue": found["dead_letter_queue"]}
        if found["max_receive_count"] is not None:
            state["max_receive_count"] = found["max_receive_count"]
        return ReadResult(id_, state, {k: v for k, v in state.items() if k not in ("url", "arn")})

    def delete(self, id_, props):
        from botocore.exceptions import ClientError
        try:
            with _client("sqs", props["connection"]) as client:
                client.delete_queue(QueueUrl=id_)
        except ClientError as exc:
            if "NonExistentQueue" not in _error_code(exc) and _error_code(exc) != "QueueDoesNotExist":
                raise


class SubscriptionProvider(_AwsApiProvider):
    immutable = ("topic_arn", "protocol", "endpoint", "raw_message_delivery", "connection")

    def check(self, _olds, news):
        failures: list = []
        if news.get("protocol") not in ("http", "https", "sqs"):
            failures.append(CheckFailure("protocol", f"must be http, https or sqs, got {news.get('protocol')!r}"))
        if not news.get("topic_arn") or not news.get("endpoint"):
            failures.append(CheckFailure("endpoint", "a subscription needs topic_arn and endpoint"))
        _check_connection(news.get("connection"), failures)
        return CheckResult(news, known_failures(news, failures))

    def create(self, props):
        with _client("sns", props["connection"]) as sns:
            arn = sns.subscribe(**subscription_request(props))["SubscriptionArn"]
        return CreateResult(id_=arn, outs={**props, "arn": arn})

    def update(self, id_, _olds, news):
        return UpdateResult(outs={**news, "arn": id_})

    def read(self, id_, props):
        from botocore.exceptions import ClientError
        try:
            with _client("sns", props["connection"]) as sns:
                sns.get_subscription_attributes(SubscriptionArn=id_)
        except ClientError as exc:
            if _error_code(exc) in ("NotFound", "NotFoundException"):
                return ReadResult(None, {})
            raise
        state = {**props, "arn": id_}
        return ReadResult(id_, state, {k: v for k, v in state.items() if k != "arn"})

    def delete(self, id_, props):
        with _client("sns", props["connection"]) as sns:
            sns.unsubscribe(SubscriptionArn=id_)


# ---------------------------------------------------------------- resources

def _opts(opts):
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["connection"]))


class SnsTopic(pulumi.dynamic.Resource, module="mammatus", name="SnsTopic"):
    arn: pulumi.Output[str]

    def __init__(self, resource_name: str, name: str, connection: pulumi.Input[dict],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TopicProvider(), resource_name,
                         {"name": name, "connection": connection, "arn": None}, _opts(opts))


class SqsQueue(pulumi.dynamic.Resource, module="mammatus", name="SqsQueue"):
    url: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, resource_name: str, name: str, connection: pulumi.Input[dict],
                 visibility_timeout: int = 30, retention_seconds: int = 345600,
                 dead_letter_queue: Optional[str] = None, max_receive_count: int = 5,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(QueueProvider(), resource_name,
                         {"name": name, "connection": connection,
                          "visibility_timeout": visibility_timeout,
                          "retention_seconds": retention_seconds,
                          "dead_letter_queue": dead_letter_queue,
                          "max_receive_count": max_receive_count, "url": None, "arn": None},
                         _opts(opts))


class SnsSubscription(pulumi.dynamic.Resource, module="mammatus", name="SnsSubscription"):
    arn: pulumi.Output[str]

    def __init__(self, resource_name: str, topic_arn: pulumi.Input[str], protocol: str,
                 endpoint: pulumi.Input[str], connection: pulumi.Input[dict],
                 raw_message_delivery: bool = False, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(SubscriptionProvider(), resource_name,
                         {"topic_arn": topic_arn, "protocol": protocol, "endpoint": endpoint,
                          "connection": connection, "raw_message_delivery": raw_message_delivery,
                          "arn": None}, _opts(opts))
