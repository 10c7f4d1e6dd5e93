import pytest
import yaml

from components.render import cloud_config


def test_header_and_yaml_round_trip():
    text = cloud_config.render({"packages": ["nginx"]}, hostname="web-1", domain="lab.mammatus")
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    assert data == {"packages": ["nginx"], "hostname": "web-1", "fqdn": "web-1.lab.mammatus",
                    "prefer_fqdn_over_hostname": False}
    assert cloud_config.parse(text) == data


def test_spec_user_data_wins_over_the_defaults():
    text = cloud_config.render({"hostname": "custom"}, hostname="web-1", domain="mammatus")
    assert cloud_config.parse(text)["hostname"] == "custom"


def test_stable_text_for_equal_input():
    a = cloud_config.render({"b": 1, "a": 2}, hostname="x")
    b = cloud_config.render({"a": 2, "b": 1}, hostname="x")
    assert a == b


def test_parse_rejects_other_documents():
    with pytest.raises(ValueError):
        cloud_config.parse("#!/bin/sh\necho hi\n")
