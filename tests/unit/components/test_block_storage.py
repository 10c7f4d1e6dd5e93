import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks, resolved

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.block_storage import BlockStorage  # noqa: E402
from components.context import CloudContext  # noqa: E402
from components.render import iscsi  # noqa: E402
from services.metadata.config import Iscsi  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402

WEB1, WEB2, DB1 = ("iqn.2026-11.mammatus:web-1", "iqn.2026-11.mammatus:web-2",
                   "iqn.2026-11.mammatus:db-1")


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
        assert media["initiators"] == [WEB1, WEB2]
        assert media["portals"] == [{"ip": "10.0.0.22", "port": 3260}]
        assert media["connection"]["host"] == "10.0.0.22"
        assert volumes["db-data"] == {"host": "storage-1", "iqn": "iqn.2026-11.mammatus:storage-1.db-data",
                                      "portal": "10.0.0.21:3260"}
        assert comp.published == volumes
        restore = MOCKS.inputs("blk-storage-1-lio-restore")
        assert restore["create"] == "systemctl enable rtslib-fb-targetctl"
    return pulumi.Output.all(comp.urn, comp.volumes).apply(check)


@pulumi.runtime.test
def test_every_acl_has_its_own_random_chap_password_kept_secret(storage):
    comp, _ = storage

    def check(args):
        _, chap_secret, web_secret = args
        media = MOCKS.inputs("blk-volume-media")
        assert set(media["chap"]) == {WEB1, WEB2}
        assert media["chap"][WEB1] == {"userid": WEB1, "password": "x" * 24}
        for initiator in (WEB1, WEB2):
            password = MOCKS.inputs(f"blk-volume-media-chap-{initiator.replace(':', '-')}")
            assert password["length"] == 24 and password["special"] is False
        # What the layer hands on stays secret (the volume's own: test_targetcli.py).
        assert chap_secret is True and web_secret is True
    return pulumi.Output.all(comp.volumes, pulumi.Output.is_secret(comp.chap),
                             pulumi.Output.is_secret(comp.instance_credentials["web-1"])).apply(check)


def test_instances_get_their_passwords_and_their_initiator_settings(storage):
    comp, ctx = storage
    assert set(comp.instance_credentials) == {"web-1", "web-2", "db-1"}
    assert resolved(comp.instance_credentials["web-1"]) == {"media": "x" * 24}
    assert resolved(comp.instance_credentials["db-1"]) == {"db-data": "x" * 24}
    settings = ctx.vendor_data.settings["iscsi"]
    assert settings == iscsi.metadata_settings(stack_spec("home"))
    parsed = Iscsi.model_validate(settings)           # as the metadata service reads it
    web = parsed.initiators["web-1"]
    assert web.name == WEB1
    assert [(n.volume, n.target, str(n.address), n.port, n.username) for n in web.nodes] == [
        ("media", "iqn.2026-11.mammatus:storage-2.media", "10.0.0.22", 3260, WEB1)]
    assert parsed.credentials is True
    assert ctx.vendor_data.parts["iscsi"] == {}        # nothing for every instance alike
    assert "x" * 24 not in str(settings)
    chap = resolved(comp.chap)
    assert chap["db-data"] == {DB1: {"userid": DB1, "password": "x" * 24}}
