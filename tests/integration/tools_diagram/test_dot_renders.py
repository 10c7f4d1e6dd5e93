import subprocess

import pytest

from tools.diagram.architecture import load, to_dot

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("stack", ["lab", "home"])
def test_graphviz_accepts_the_picture(stack):
    svg = subprocess.run(["dot", "-Tsvg"], input=to_dot(stack, load(stack)).encode(),
                         capture_output=True, check=True).stdout.decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "Mammatus" in svg
