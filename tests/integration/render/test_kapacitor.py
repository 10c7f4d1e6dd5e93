"""The rendered alert TICKscripts checked by Kapacitor's own code (tools/ticklint: Kapacitor
v1.7.6's parser and pipeline builder, as kapacitord defines a task), and the rendered
kapacitor.conf parsed as TOML."""

import subprocess

import pytest

from components.render import kapacitor
from stacks.spec import DEFAULT_THRESHOLDS, Threshold
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


def test_alert_rules_build_as_kapacitor_batch_pipelines(ticklint, tmp_path):
    extra = Threshold(name="load_high", measurement="system", field="load1", crit=8, warn=4,
                      where={"host": "it's"})   # quotes inside the query's string
    tasks = kapacitor.alert_tasks(kapacitor.KapacitorPaths(), [*DEFAULT_THRESHOLDS, extra])
    files = _write(tmp_path, tasks)
    result = subprocess.run([ticklint, *files], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == 6


def test_kapacitor_refuses_a_wrong_property(ticklint, tmp_path):
    tasks = kapacitor.alert_tasks(kapacitor.KapacitorPaths(), DEFAULT_THRESHOLDS)
    broken = {k: v.replace(".crit(", ".critical(") for k, v in tasks.items() if "cpu_busy" in k}
    result = subprocess.run([ticklint, *_write(tmp_path, broken)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and 'no method or property "critical"' in result.stderr
