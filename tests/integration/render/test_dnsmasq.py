"""The rendered dnsmasq.conf against the real `dnsmasq --test`."""

import os

import pytest

from components.render import dnsmasq
from tests.support.netlab import run, stack_spec

pytestmark = pytest.mark.integration


def write(tmp_path, stack, **kw):
    spec = stack_spec(stack)
    paths = dnsmasq.DnsmasqPaths(tftp_root=spec.network.pxe.tftp_root).under(lambda p: str(tmp_path) + p)
    for d in dnsmasq.directories(spec, paths):
        os.makedirs(d, exist_ok=True)
    with open(paths.config, "w") as f:
        f.write(dnsmasq.render(spec, paths, **kw))
    return paths


@pytest.mark.parametrize("stack", ["lab", "home"])
@pytest.mark.parametrize("inline", [True, False])
def test_dnsmasq_accepts_the_rendered_config(stack, inline, tmp_path):
    paths = write(tmp_path, stack, inline_resources=inline)
    result = run("dnsmasq", "--test", "-C", paths.config, check=False)
    assert result.returncode == 0, result.stderr
    assert "syntax check OK" in result.stderr + result.stdout


def test_dnsmasq_rejects_a_broken_config(tmp_path):
    paths = write(tmp_path, "lab")
    with open(paths.config, "a") as f:
        f.write("dhcp-range=set:lan,10.10.0.300,10.10.0.1,12h\n")
    assert run("dnsmasq", "--test", "-C", paths.config, check=False).returncode != 0
