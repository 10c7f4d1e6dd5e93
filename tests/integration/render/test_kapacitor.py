"""The rendered alert TICKscripts checked by Kapacitor's own code (tools/ticklint: Kapacitor
v1.7.6's parser and stream pipeline builder, as kapacitord defines a task), and the rendered
kapacitor.conf parsed as TOML."""

import subprocess
import tomllib

import pytest

from components.render import kapacitor
from tests.support.paths import built_tool

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def ticklint():
    return built_tool("ticklint")


def _write(tmp_path, tasks):
    files = []
    for path, script in tasks.items():
        f = tmp_path / path.rsplit("/", 1)[1]
        f.write_text(script)
        files.append(str(f))
    return files


def test_alert_rules_build_as_kapacitor_stream_pipelines(ticklint, tmp_path):
    tasks = kapacitor.alert_tasks(kapacitor.KapacitorPaths(), post_url="http://10.0.0.2:9999/alerts")
    files = _write(tmp_path, tasks)
    result = subprocess.run([ticklint, *files], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == 4


def test_kapacitor_refuses_a_wrong_property(ticklint, tmp_path):
    tasks = kapacitor.alert_tasks(kapacitor.KapacitorPaths())
    broken = {k: v.replace(".crit(", ".critical(") for k, v in tasks.items() if "cpu_high" in k}
    result = subprocess.run([ticklint, *_write(tmp_path, broken)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and 'no method or property "critical"' in result.stderr


def test_kapacitor_conf_is_toml():
    config = tomllib.loads(kapacitor.kapacitor_config(kapacitor.KapacitorPaths(), "http://i:8086", "h"))
    assert config["hostname"] == "h" and config["storage"]["boltdb"].endswith("kapacitor.db")
