import pulumi

from components.vendor_data import VendorData
from tests.support.pulumi_mocks import resolved


def test_parts_merge_in_key_order_whatever_order_the_layers_add_them():
    a, b = VendorData(), VendorData()
    parts = {"vault": {"write_files": [{"path": "/v"}]}, "consul": {"write_files": [{"path": "/c"}]}}
    for key in parts:
        a.add(key, parts[key])
    for key in reversed(list(parts)):
        b.add(key, pulumi.Output.from_input(parts[key]))
    merged = resolved(a.cloud_config)
    assert merged == resolved(b.cloud_config)
    assert [f["path"] for f in merged["write_files"]] == ["/c", "/v"]


def test_settings_only_for_parts_that_have_some():
    vd = VendorData()
    vd.add("ca", {"ca_certs": {"trusted": ["PEM"]}})
    vd.add("consul", {}, {"datacenter": "home"})
    assert vd.settings == {"consul": {"datacenter": "home"}}
