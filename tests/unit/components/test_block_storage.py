import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.block_storage import BlockStorage  # noqa: E402
from components.context import CloudContext  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402


@pytest.fixture(scope="module")
def storage():
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    return BlockStorage("blk", ctx), ctx


@pulumi.runtime.test
def test_a_volume_per_spec_volume_with_acls_and_portal(storage):
    comp, ctx = storage

    def check(args):
        urn, volumes = args
        assert urn.endswith("mammatus:storage:BlockStorage::blk")
        media = MOCKS.inputs("blk-volume-media")
        assert MOCKS.named("blk-volume-media").typ == "pulumi-python:dynamic/mammatus:IscsiVolume"
        assert media["iqn"] == "iqn.2026-11.mammatus:storage-2.media"
        assert media["size_gb"] == 200 and media["file"] == "/var/lib/mammatus/iscsi/media.img"
        assert media["initiators"] == ["iqn.2026-11.mammatus:web-1", "iqn.2026-11.mammatus:web-2"]
        assert media["portals"] == [{"ip": "10.0.0.22", "port": 3260}]
        assert media["connection"]["host"] == "10.0.0.22"
        assert volumes["db-data"] == {"host": "storage-1", "iqn": "iqn.2026-11.mammatus:storage-1.db-data",
                                      "portal": "10.0.0.21:3260"}
        assert comp.published == volumes
        restore = MOCKS.inputs("blk-storage-1-lio-restore")
        assert restore["create"] == "systemctl enable rtslib-fb-targetctl"
    return pulumi.Output.all(comp.urn, comp.volumes).apply(check)
