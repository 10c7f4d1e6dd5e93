import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools" / "pulumi_python"))

from pulumi.runtime.proto import language_pb2  # noqa: E402

import language_host  # noqa: E402
import program_runner  # noqa: E402


def _request(**overrides):
    req = language_pb2.RunRequest(
        project="mammatus", stack="dev", pwd="/w", monitor_address="127.0.0.1:1",
        dryRun=True, parallel=4, config={"mammatus:runDir": "/srv"},
        configSecretKeys=["mammatus:secret"])
    req.info.entry_point = "."
    req.info.root_directory = "/w"
    for key, value in overrides.items():
        setattr(req, key, value)
    return req


def test_runner_command_passes_what_the_engine_asked_for():
    cmd = language_host.runner_command(_request(), "127.0.0.1:2")
    assert cmd[:3] == [sys.executable, "-u", language_host.RUNNER]
    args = program_runner.parse_args(cmd[3:])
    assert (args.project, args.stack, args.dry_run, args.parallel) == ("mammatus", "dev", "true", "4")
    assert (args.monitor, args.engine, args.root_directory) == ("127.0.0.1:1", "127.0.0.1:2", "/w")
    assert args.program == "."


def test_empty_fields_are_left_out():
    cmd = language_host.runner_command(_request(organization=""), "")
    assert "--organization" not in cmd and "--engine" not in cmd


def test_config_and_secret_keys_travel_as_json_env():
    env = language_host.runner_env(_request())
    assert json.loads(env["PULUMI_CONFIG"]) == {"mammatus:runDir": "/srv"}
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["mammatus:secret"]
