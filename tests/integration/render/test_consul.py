"""The rendered Consul server and agent configs checked by the real `consul validate`
(tools/consul: Consul v1.20.6 from its Go module; Consul is not packaged in Debian bookworm)."""

import base64
import subprocess

import pytest

from components.render import consul
from tests.support.paths import built_tool

pytestmark = pytest.mark.integration

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="module")
def binary():
    return built_tool("consul")


def _validate(binary, path):
    return subprocess.run([binary, "validate", str(path)], capture_output=True, text=True, timeout=60)


def test_server_config_is_valid(binary, tmp_path):
    conf = tmp_path / "server.json"
    conf.write_text(consul.server_config("control", "10.0.0.2", ["10.0.0.2", "10.0.0.3", "10.0.0.4"],
                                         KEY, "home", "consul", data_dir=str(tmp_path / "data")))
    result = _validate(binary, conf)
    assert result.returncode == 0 and "Configuration is valid!" in result.stdout, result.stderr


def test_instance_agent_config_is_valid(binary, tmp_path):
    conf = tmp_path / "agent.json"
    conf.write_text(consul.agent_config(["10.0.0.2"], None, "home", "consul",
                                        data_dir=str(tmp_path / "data")))
    result = _validate(binary, conf)
    assert result.returncode == 0 and "Configuration is valid!" in result.stdout, result.stderr


def test_an_unknown_key_is_refused(binary, tmp_path):
    conf = tmp_path / "bad.json"
    conf.write_text(consul.server_config("c", "10.0.0.2", ["10.0.0.2"], None, "home", "consul")
                    .replace('"server"', '"servre"'))
    result = _validate(binary, conf)
    assert result.returncode != 0 and "invalid config key servre" in result.stdout + result.stderr
