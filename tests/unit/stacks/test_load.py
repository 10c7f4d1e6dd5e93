import pytest

from stacks.load import SpecError, config_section, parse_spec


def test_section_keeps_only_the_namespace_and_decodes_json():
    section = config_section({"mammatus:runDir": "/srv/m", "mammatus:hosts": '["a"]',
                              "aws:region": "x"})
    assert section == {"runDir": "/srv/m", "hosts": ["a"]}


def test_valid_spec_normalizes_the_path():
    assert parse_spec({"runDir": "/srv/m/"}).run_dir == "/srv/m"


@pytest.mark.parametrize("section, message", [
    ({}, "mammatus:runDir: is required"),
    ({"runDir": "relative/dir"}, "mammatus:runDir: must be an absolute path"),
    ({"runDir": "/"}, "mammatus:runDir: must be an absolute path other than /"),
    ({"runDir": "/srv", "bogus": 1}, "mammatus:bogus: unknown key"),
])
def test_invalid_spec_names_the_key_and_the_problem(section, message):
    with pytest.raises(SpecError) as err:
        parse_spec(section)
    assert message in str(err.value)
