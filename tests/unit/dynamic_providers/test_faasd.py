"""faasd request builders and parser (the REST contract: tests/integration/…/test_faasd_contract.py)."""

import base64
import json

import pytest

from dynamic_providers import faasd as f

CONN = {"gateway": "http://10.0.0.2:8080/", "username": "admin", "password": "pw"}


def test_cron_annotations():
    assert f.cron_annotations("0 3 * * *") == {"topic": "cron-function", "schedule": "0 3 * * *"}
    for bad in ("0 3 * *", "at noon", "0 3 * * * *"):
        with pytest.raises(ValueError):
            f.cron_annotations(bad)


def test_deployment_body():
    body = f.deployment_body({"name": "thumb", "image": "r/t:1", "env": {"A": "1"},
                              "annotations": {"topic": "cron-function"}, "memory_limit": "128Mi"})
    assert body == {"service": "thumb", "image": "r/t:1", "envVars": {"A": "1"}, "labels": {},
                    "annotations": {"topic": "cron-function"}, "secrets": [],
                    "limits": {"memory": "128Mi"}}
    assert f.delete_body("thumb") == {"functionName": "thumb"}


def test_request_args_use_basic_auth_and_json():
    args = f.request_args(CONN, "POST", "/system/functions", {"service": "x"})
    assert args["url"] == "http://10.0.0.2:8080/system/functions"
    assert args["headers"]["Authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()
    assert json.loads(args["data"]) == {"service": "x"}
    assert f.request_args(CONN, "GET", "/system/function/x")["data"] is None


def test_function_url_and_parse_status():
    assert f.function_url(CONN["gateway"], "thumb") == "http://10.0.0.2:8080/function/thumb"
    status = f.parse_status({"name": "thumb", "image": "r/t:1", "replicas": 1, "availableReplicas": 0,
                             "invocationCount": 7, "annotations": {"a": "b"}})
    assert status["invocations"] == 7 and status["available_replicas"] == 0
    assert status["annotations"] == {"a": "b"} and status["env"] == {}


def test_check_merges_the_schedule_and_diff():
    inputs, failures = f.check_function({"name": "nightly", "image": "r/x:1", "schedule": "0 3 * * *",
                                         "annotations": {"k": "v"}, "connection": CONN})
    assert not failures
    assert inputs["annotations"] == {"k": "v", "topic": "cron-function", "schedule": "0 3 * * *"}
    _, failures = f.check_function({"name": "Bad_Name", "image": "", "connection": {"gateway": "x"}})
    assert {x.property for x in failures} == {"name", "image", "connection"}
    assert f.FunctionProvider().diff("f", inputs, {**inputs, "image": "r/x:2"}).replaces == []
    assert f.FunctionProvider().diff("f", inputs, {**inputs, "name": "other"}).replaces == ["name"]
