"""SNS/SQS request builders and parsers."""

import json

import dill

from dynamic_providers.preview import UNKNOWN
from dynamic_providers import aws_messaging as a

CONN = {"endpoint": "http://10.0.0.2:9324", "region": "us-east-1", "access_key": "k", "secret_key": "s"}


def test_arns():
    assert a.queue_arn("jobs") == "arn:aws:sqs:us-east-1:000000000000:jobs"
    assert a.topic_arn("events", "home", "123") == "arn:aws:sns:home:123:events"


def test_topic_request_fifo():
    assert a.topic_request({"name": "events"}) == {"Name": "events", "Attributes": {}}
    assert a.topic_request({"name": "orders.fifo"})["Attributes"]["FifoTopic"] == "true"


def test_queue_request_with_dead_letter_queue():
    req = a.queue_request({"name": "jobs", "visibility_timeout": 60, "retention_seconds": 3600,
                           "dead_letter_queue": "jobs-dlq", "max_receive_count": 3})
    assert req["QueueName"] == "jobs"
    assert req["Attributes"]["VisibilityTimeout"] == "60"
    assert req["Attributes"]["MessageRetentionPeriod"] == "3600"
    assert json.loads(req["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:jobs-dlq", "maxReceiveCount": 3}
    fifo = a.queue_request({"name": "orders.fifo"})["Attributes"]
    assert fifo["FifoQueue"] == "true" and "RedrivePolicy" not in fifo
    update = a.queue_update_request("http://q/jobs", {"name": "orders.fifo"})
    assert "FifoQueue" not in update["Attributes"]   # immutable in SQS: not re-sent


def test_subscription_request():
    req = a.subscription_request({"topic_arn": "arn:t", "protocol": "sqs", "endpoint": "arn:q",
                                  "raw_message_delivery": True})
    assert req == {"TopicArn": "arn:t", "Protocol": "sqs", "Endpoint": "arn:q",
                   "ReturnSubscriptionArn": True, "Attributes": {"RawMessageDelivery": "true"}}


def test_parse_queue_attributes():
    found = a.parse_queue_attributes({
        "QueueArn": "arn:aws:sqs:us-east-1:000000000000:jobs", "VisibilityTimeout": "60",
        "MessageRetentionPeriod": "3600", "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:jobs-dlq", "maxReceiveCount": "3"})})
    assert found == {"visibility_timeout": 60, "retention_seconds": 3600,
                     "arn": "arn:aws:sqs:us-east-1:000000000000:jobs", "fifo": False,
                     "dead_letter_queue": "jobs-dlq", "max_receive_count": 3}
    assert a.parse_topic_attributes({"TopicArn": "arn:x", "FifoTopic": "true"}) == {"arn": "arn:x", "fifo": True}


def test_checks_and_diffs():
    q = a.QueueProvider().check({}, {"name": "jobs", "dead_letter_queue": "jobs", "connection": {"endpoint": "x"}})
    assert {f.property for f in q.failures} == {"dead_letter_queue", "connection"}
    s = a.SubscriptionProvider().check({}, {"protocol": "email", "topic_arn": "t", "endpoint": "e", "connection": CONN})
    assert [f.property for f in s.failures] == ["protocol"]
    old = {"name": "jobs", "visibility_timeout": 30, "connection": CONN, "url": "u", "arn": "a"}
    assert a.QueueProvider().diff("u", old, {**old, "visibility_timeout": 60}).replaces == []
    assert a.QueueProvider().diff("u", old, {**old, "name": "x"}).replaces == ["name"]
    assert not a.QueueProvider().diff("u", old, {k: v for k, v in old.items() if k not in ("url", "arn")}).changes


def test_providers_pickle():
    for cls in (a.TopicProvider, a.QueueProvider, a.SubscriptionProvider):
        assert isinstance(dill.loads(dill.dumps(cls())), cls)


def test_unknown_secret_at_preview_is_not_a_failure():
    conn = {**CONN, "secret_key": UNKNOWN}
    assert a.QueueProvider().check({}, {"name": "jobs", "connection": conn}).failures == []
    assert a.TopicProvider().check({}, {"name": "", "connection": UNKNOWN}).failures[0].property == "name"


def test_a_stack_gaining_a_ca_updates_its_resources_in_place():
    https = {**CONN, "endpoint": "https://10.0.0.2:9324", "ca_pem": "ROOT"}
    queue = {"name": "jobs", "visibility_timeout": 30, "connection": CONN, "url": "u", "arn": "a"}
    topic = {"name": "events", "connection": CONN, "arn": "a"}
    sub = {"topic_arn": "t", "protocol": "sqs", "endpoint": "arn:q", "raw_message_delivery": True,
           "connection": CONN, "arn": "a"}
    for provider, old in ((a.QueueProvider(), queue), (a.TopicProvider(), topic),
                          (a.SubscriptionProvider(), sub)):
        diff = provider.diff("id", old, {**old, "connection": https})
        assert diff.changes and diff.replaces == []    # the same daemon: never a new queue
        rooted = {**old, "connection": https}
        assert provider.diff("id", rooted, {**rooted, "connection": {**https, "ca_pem": "NEW"}}).changes
        moved = provider.diff("id", old, {**old, "connection": {**CONN, "endpoint": "http://10.0.0.9:9324"}})
        assert moved.replaces == ["connection"]         # another daemon: a new resource there
        rotated = provider.diff("id", old, {**old, "connection": {**CONN, "secret_key": "t"}})
        assert not rotated.changes                      # as before: a new key alone is no change


def test_daemon_and_queue_urls_follow_the_endpoint_scheme():
    assert a.daemon("https://10.0.0.2:9324/") == a.daemon("http://10.0.0.2:9324") == "10.0.0.2:9324"
    made_over_http = "http://10.0.0.2:9324/000000000000/jobs"
    assert a.current_queue_url(made_over_http, {"endpoint": "https://10.0.0.2:9324"}) == \
        "https://10.0.0.2:9324/000000000000/jobs"
    assert a.current_queue_url(made_over_http, CONN) == made_over_http


def test_boto3_trusts_the_connections_root_alone_while_the_client_lives():
    import os
    with a._trusted_root("-----BEGIN CERTIFICATE-----\nROOT\n") as path:
        assert open(path).read().startswith("-----BEGIN CERTIFICATE-----")
        assert os.stat(path).st_mode & 0o077 == 0
    assert not os.path.exists(path)
    with a._trusted_root(None) as none:
        assert none is None                             # the system's roots
