"""The functions connector's config as rendered, read by the connector's own parser
(services/functions/config.py)."""

import json

from components.render import functions_connector as fc
from services.functions.config import parse
from stacks.spec import Function

ARNS = {"events": "arn:aws:sns:us-east-1:000000000000:events",
        "alerts": "arn:aws:sns:us-east-1:000000000000:alerts"}
URLS = {"jobs": "https://10.0.0.2:9324/000000000000/jobs"}


def functions():
    return [Function.model_validate(f) for f in [
        {"name": "thumbnail", "image": "i:1", "triggers": [{"kind": "sqs", "queue": "jobs"}]},
        {"name": "report", "image": "i:2", "triggers": [
            {"kind": "cron", "schedule": "0 3 * * *"},
            {"kind": "cron", "schedule": "30 18 * * FRI", "timezone": "Europe/Berlin",
             "invoke": "async"}]},
        {"name": "on-event", "image": "i:3", "triggers": [
            {"kind": "sns", "topic": "events"}, {"kind": "sns", "topic": "alerts", "invoke": "async"},
            {"kind": "http"}]},
        {"name": "also-events", "image": "i:4", "triggers": [{"kind": "sns", "topic": "events"}]},
    ]]


def render(**kwargs):
    args = dict(listen="10.0.0.2:9920", gateway_url="http://127.0.0.1:8080", topic_arns=ARNS,
                queue_urls=URLS, sns_endpoint="https://10.0.0.2:9911",
                signing_name="sns-control.home.mammatus", ca_file=fc.FILES.ca_root, tls=True)
    return fc.render_config(functions(), **{**args, **kwargs})


def test_every_trigger_is_in_the_config_the_connector_reads():
    config = parse(render())
    assert config.listen == "10.0.0.2:9920" and config.gateway.url == "http://127.0.0.1:8080"
    assert str(config.gateway.password_file) == fc.FILES.gateway_password
    routes = {r.path: (r.topic_arn, r.function, r.invoke) for r in config.sns.routes}
    assert routes == {"/sns/alerts/on-event": (ARNS["alerts"], "on-event", "async"),
                      "/sns/events/also-events": (ARNS["events"], "also-events", "sync"),
                      "/sns/events/on-event": (ARNS["events"], "on-event", "sync")}
    assert config.sns.endpoint == "https://10.0.0.2:9911"
    assert config.sns.signing_name == "sns-control.home.mammatus"
    (queue,) = config.sqs.routes
    assert (queue.queue, queue.queue_url, queue.function, queue.wait_seconds) == \
        ("jobs", URLS["jobs"], "thumbnail", 20)
    assert str(config.aws.credentials_file) == fc.FILES.credentials
    # Every cron trigger, each in its own time zone.
    assert [(c.function, c.schedule, c.timezone, c.invoke) for c in config.cron] == [
        ("report", "0 3 * * *", "UTC", "sync"),
        ("report", "30 18 * * FRI", "Europe/Berlin", "async")]
    assert str(config.ca_file) == fc.FILES.ca_root and str(config.tls.cert_file) == fc.FILES.tls_cert


def test_without_a_ca_there_is_no_root_no_tls_and_no_signing_name():
    config = parse(render(ca_file=None, tls=False, sns_endpoint="http://10.0.0.2:9911"))
    assert config.ca_file is None and config.tls is None and config.sns.signing_name is None


def test_only_cron_triggers_need_no_sns_sqs_or_key():
    only_cron = [f for f in functions() if f.name == "report"]
    text = fc.render_config(only_cron, listen="10.0.0.2:9920", gateway_url="http://127.0.0.1:8080",
                            topic_arns={}, queue_urls={})
    config = parse(text)
    assert config.sns is None and config.sqs is None and config.aws is None
    assert len(config.cron) == 2


def test_the_text_is_stable():
    assert render() == render() and json.loads(render())["listen"] == "10.0.0.2:9920"
