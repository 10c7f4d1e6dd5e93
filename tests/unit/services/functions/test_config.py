"""The connector's config: what it accepts, and the clear errors it stops with."""

import json
import os

import pytest

from services.functions import config as c
from services.functions.__main__ import main

VALID = {
    "listen": "127.0.0.1:9920",
    "gateway": {"url": "http://127.0.0.1:8080", "password_file": "/run/pw"},
    "aws": {"credentials_file": "/run/creds"},
    "sns": {"endpoint": "https://10.0.0.2:9911", "signing_name": "sns-control.home.mammatus",
            "routes": [{"path": "/sns/events/on-event",
                        "topic_arn": "arn:aws:sns:us-east-1:000000000000:events",
                        "function": "on-event"}]},
    "sqs": {"routes": [{"queue": "jobs", "queue_url": "https://10.0.0.2:9324/000000000000/jobs",
                        "function": "thumbnail", "invoke": "async"}]},
    "cron": [{"function": "report", "schedule": "0 3 * * *", "timezone": "Europe/Berlin"},
             {"function": "report", "schedule": "*/10 * * * * *"}],
}


def with_(**changes) -> str:
    return json.dumps({**VALID, **changes})


def test_a_valid_config_with_its_defaults():
    config = c.parse(json.dumps(VALID))
    assert config.host_port == ("127.0.0.1", 9920)
    assert config.gateway.username == "admin" and config.gateway.timeout_seconds == 60
    route = config.sqs.routes[0]
    assert (route.wait_seconds, route.max_messages, route.invoke) == (20, 1, "async")
    jobs = [j.job() for j in config.cron]
    assert jobs[0].timezone == "Europe/Berlin" and jobs[1].timezone == "UTC"
    assert jobs[1].schedule.seconds == {0, 10, 20, 30, 40, 50}


def test_yaml_is_read_too():
    assert c.parse("listen: 0.0.0.0:9920\ngateway: {url: 'http://gw:8080', "
                   "password_file: /pw}\n").listen == "0.0.0.0:9920"


@pytest.mark.parametrize("text, message", [
    ("listen: [", "not JSON or YAML"),
    ("[1, 2]", "must be a mapping"),
    (with_(bogus=1), "bogus: unknown key"),
    (json.dumps({k: v for k, v in VALID.items() if k != "gateway"}), "gateway: is required"),
    (with_(listen="nowhere"), "listen: String should match"),
    (with_(listen="127.0.0.1:70000"), "listen: the port must be 1-65535"),
    (with_(cron=[{"function": "f", "schedule": "0 3 * *"}]), "cron[0].schedule: a cron schedule"),
    (with_(cron=[{"function": "f", "schedule": "0 3 * * *", "timezone": "Mars/Base"}]),
     "cron[0].timezone: 'Mars/Base' is not an IANA time zone"),
    (with_(cron=[{"function": "Bad_Name", "schedule": "@daily"}]), "cron[0].function"),
    (with_(aws=None), "sqs routes need aws.credentials_file"),
    (with_(sqs={"routes": [dict(VALID["sqs"]["routes"][0], wait_seconds=21)]}),
     "sqs.routes[0].wait_seconds"),
    (with_(sns=dict(VALID["sns"], routes=VALID["sns"]["routes"] * 2)),
     "sns.routes: path '/sns/events/on-event' is given twice"),
    (with_(sns=dict(VALID["sns"], routes=[dict(VALID["sns"]["routes"][0], topic_arn="events")])),
     "sns.routes[0].topic_arn"),
    (with_(gateway={"url": "ftp://gw", "password_file": "/pw"}), "gateway.url"),
])
def test_a_bad_config_names_the_key(text, message):
    with pytest.raises(c.ConfigError) as err:
        c.parse(text, "connector.json")
    assert str(err.value).startswith("connector.json: ") and message in str(err.value)


def secret(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return str(path)


def files_config(tmp_path, password="pw\n", creds="[default]\naws_access_key_id = AK\n"
                 "aws_secret_access_key = SK\n", pw_mode=0o600, creds_mode=0o600):
    pw = secret(tmp_path / "pw", password, pw_mode)
    cr = secret(tmp_path / "creds", creds, creds_mode)
    return c.parse(with_(gateway={"url": "http://gw:8080", "password_file": pw},
                         aws={"credentials_file": cr}))


def test_the_secrets_are_read_from_their_files(tmp_path):
    secrets = c.load_secrets(files_config(tmp_path))
    assert secrets.gateway_password == "pw" and secrets.aws_key == ("AK", "SK")


@pytest.mark.parametrize("kwargs, message", [
    ({"pw_mode": 0o644}, "gateway.password_file .* may be read by others \\(mode 0644\\)"),
    ({"creds_mode": 0o640}, "aws.credentials_file .* may be read by others"),
    ({"password": "\n"}, "gateway.password_file .* is empty"),
    ({"creds": "[other]\naws_access_key_id = A\naws_secret_access_key = S\n"},
     "no profile 'default'"),
    ({"creds": "not an ini"}, "not an INI file"),
])
def test_a_bad_secret_file_stops_the_connector(tmp_path, kwargs, message):
    with pytest.raises(c.ConfigError, match=message):
        c.load_secrets(files_config(tmp_path, **kwargs))


def test_a_missing_password_file_is_named(tmp_path):
    config = c.parse(with_(gateway={"url": "http://gw:8080", "password_file": str(tmp_path / "x")}))
    with pytest.raises(c.ConfigError, match="gateway.password_file .*/x: No such file"):
        c.load_secrets(config)


def test_the_service_stops_at_startup_with_the_error(tmp_path):
    path = tmp_path / "connector.json"
    path.write_text(with_(cron=[{"function": "f", "schedule": "0 3 * * *", "timezone": "Nope"}]))
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(path)])
    assert "cron[0].timezone: 'Nope' is not an IANA time zone" in str(exit_.value.code)
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(tmp_path / "missing.json")])
    assert "cannot read the config" in str(exit_.value.code)


def test_origin_drops_default_ports_and_paths():
    assert c.origin("HTTPS://Sns.Example:443/x?y") == "https://sns.example"
    assert c.origin("http://10.0.0.2:9911/SimpleNotificationService-1.pem") == "http://10.0.0.2:9911"
