import pytest

from services.metadata.inventory import (FileInventorySource, InventoryError, derive_instance_id,
                                         instance_from_lxd, instances_from_lxd, parse_inventory)

# Trimmed from a real `GET /1.0/instances?recursion=1` item (LXD 5.0).
LXD_ITEM = {
    "architecture": "x86_64",
    "config": {"image.os": "Debian", "limits.cpu": "2"},
    "created_at": "2026-11-20T10:00:00Z",
    "description": "",
    "devices": {},
    "ephemeral": False,
    "expanded_config": {
        "image.architecture": "amd64", "image.os": "Debian", "image.release": "bookworm",
        "image.variant": "cloud", "limits.cpu": "2",
        "cloud-init.user-data": "#cloud-config\npackages: [htop]\n",
        "cloud-init.ssh-keys.alice": "alice:ssh-ed25519 AAAAalice alice@laptop",
        "user.mammatus.tag.role": "web",
        "volatile.base_image": "4f1c0b2e9d7a",
        "volatile.eth0.host_name": "veth1234",
        "volatile.eth0.hwaddr": "00:16:3E:12:34:56",
        "volatile.uuid": "7b0f6a56-3c2e-4d8f-9d64-0b8a8f9f1d11",
    },
    "expanded_devices": {
        "eth0": {"name": "eth0", "network": "lxdbr0", "type": "nic"},
        "eth1": {"type": "nic", "nictype": "macvlan", "parent": "enp1s0",
                 "hwaddr": "00:16:3e:ab:cd:ef"},
        "root": {"path": "/", "pool": "default", "type": "disk"},
    },
    "location": "none",
    "name": "web-1",
    "profiles": ["default"],
    "project": "default",
    "stateful": False,
    "status": "Running",
    "status_code": 103,
    "type": "container",
}


def test_instance_from_lxd():
    inst = instance_from_lxd(LXD_ITEM)
    assert inst.name == "web-1"
    assert inst.macs == ("00:16:3e:12:34:56", "00:16:3e:ab:cd:ef")  # volatile and device hwaddr
    assert inst.image == "debian-bookworm"
    assert inst.instance_type == "lxd.container"
    assert inst.user_data.startswith("#cloud-config")
    assert inst.ssh_keys == ("ssh-ed25519 AAAAalice alice@laptop",)
    assert inst.tags == (("role", "web"),)
    assert inst.instance_id == derive_instance_id("web-1", "7b0f6a56-3c2e-4d8f-9d64-0b8a8f9f1d11")
    assert inst.host == ""


def test_lxd_vm_and_instances_without_nics():
    vm = dict(LXD_ITEM, type="virtual-machine", location="node2")
    assert instance_from_lxd(vm).instance_type == "lxd.vm"
    assert instance_from_lxd(vm).host == "node2"
    bare = dict(LXD_ITEM, expanded_devices={"root": {"type": "disk"}},
                expanded_config={"volatile.uuid": "x"})
    assert instance_from_lxd(bare) is None
    assert [i.name for i in instances_from_lxd([LXD_ITEM, bare])] == ["web-1"]


def test_instance_id_is_stable_and_changes_on_recreation():
    assert derive_instance_id("a", "u1") == derive_instance_id("a", "u1")
    assert derive_instance_id("a", "u1") != derive_instance_id("a", "u2")
    assert derive_instance_id("a", "u1").startswith("i-") and len(derive_instance_id("a")) == 19


def test_parse_inventory():
    (inst,) = parse_inventory("""
instances:
  - name: web-1
    id: i-00000000000000001
    macs: ["02-00-00-00-00-0A"]
    ssh_keys: [ssh-ed25519 AAAA x@y]
    user_data: {runcmd: [[echo, hi]]}
    tags: {role: web}
""")
    assert inst.instance_id == "i-00000000000000001"
    assert inst.macs == ("02:00:00:00:00:0a",)
    assert inst.user_data.startswith("#cloud-config\n") and "echo" in inst.user_data
    assert inst.tags == (("role", "web"),)


@pytest.mark.parametrize("text,message", [
    ("instances: [{name: Web_1, macs: ['02:00:00:00:00:01']}]", "DNS label"),
    ("instances: [{name: web-1, macs: []}]", "macs"),
    ("instances: [{name: web-1, macs: [zz]}]", "not a MAC"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], colour: red}]", "unknown keys"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], user_data: 3}]", "user_data"),
    ("instances: {}", "instances"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], credentials: {ssh: {k: v}}}]",
     "credentials.ssh: unknown kind"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], credentials: {consul: {token: t}}}]",
     "credentials.consul must be {config}"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], credentials: [consul]}]",
     "credentials must be a mapping"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], credentials: {iscsi: {}}}]",
     "credentials.iscsi must map names (DNS labels) to non-empty strings"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], credentials: {iscsi: {Db_Data: pw}}}]",
     "credentials.iscsi must map names"),
    ("instances: [{name: web-1, macs: ['02:00:00:00:00:01'], credentials: {iscsi: {db-data: ''}}}]",
     "credentials.iscsi must map names"),
])
def test_inventory_errors(text, message):
    with pytest.raises(InventoryError) as err:
        parse_inventory(text, "inv.yaml")
    assert message in str(err.value) and "inv.yaml" in str(err.value)


def test_credentials_are_part_of_the_identity_so_new_ones_are_served_at_once():
    text = "instances: [{name: web-1, macs: ['02:00:00:00:00:01'], credentials: {consul: {config: %s}}}]"
    (old,) = parse_inventory(text % "secret-1")
    (new,) = parse_inventory(text % "secret-2")
    assert old.credential("consul") == {"config": "secret-1"} and old.credential("telemetry") is None
    assert old != new and hash(old) != hash(new)
    assert "secret-1" not in repr(old)


def test_iscsi_credentials_have_a_field_per_volume():
    (inst,) = parse_inventory("instances: [{name: db-1, macs: ['02:00:00:00:00:01'], "
                              "credentials: {iscsi: {db-data: pw-1, media: pw-2}}}]")
    assert inst.credential("iscsi") == {"db-data": "pw-1", "media": "pw-2"}


def test_file_source_follows_edits(tmp_path):
    path = tmp_path / "instances.yaml"
    source = FileInventorySource(path)
    assert source.get() == []
    path.write_text("instances: [{name: a, macs: ['02:00:00:00:00:01']}]")
    assert [i.name for i in source.get()] == ["a"]
    path.write_text("instances: [{name: bb, macs: ['02:00:00:00:00:01']}]")
    assert [i.name for i in source.get()] == ["bb"]
    path.unlink()
    assert source.get() == []
