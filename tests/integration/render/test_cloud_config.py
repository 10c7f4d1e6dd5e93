"""Instances' user-data of the example stacks, validated by cloud-init 22.4.2's own schema."""

import pytest

from components.render.cloud_config import instances_user_data
from components.context import CloudContext
from components.render import cloud_config
from tests.support import cloudinit_schema
from tests.support.netlab import stack_spec

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("stack", ["lab", "home"])
def test_every_instances_user_data_passes_cloud_inits_schema(stack):
    ctx = CloudContext(stack_spec(stack), "KEY", "ssh-ed25519 AAAA")
    texts = instances_user_data(ctx.spec)
    assert texts, "the example stacks have instances"
    for name, text in texts.items():
        config = cloud_config.parse(text)
        assert config["hostname"] == name
        cloudinit_schema.validate(config)


def test_the_schema_catches_a_bad_key():
    config = cloud_config.parse(cloud_config.render({"packages": "nginx-not-a-list"}, hostname="x"))
    with pytest.raises(cloudinit_schema.schema_error()):
        cloudinit_schema.validate(config)
