"""The one diff the dynamic providers share (dynamic_providers/diffing.py)."""

from dynamic_providers.diffing import endpoint, plan_diff, ssh_host

OLD = {"name": "a", "size": 1, "url": "u1", "connection": {"endpoint": "e1", "secret": "s1"}}


def test_a_changed_input_updates_and_a_changed_immutable_one_replaces():
    grown = plan_diff(OLD, {**OLD, "size": 2}, ("name",))
    assert grown.changes and grown.replaces == []
    renamed = plan_diff(OLD, {**OLD, "name": "b"}, ("name",))
    assert renamed.replaces == ["name"] and renamed.delete_before_replace


def test_outputs_the_provider_computed_are_no_change():
    assert not plan_diff(OLD, {k: v for k, v in OLD.items() if k != "url"}, outputs=("url",)).changes


def test_a_new_target_replaces_only_when_connection_is_immutable():
    moved = {**OLD, "connection": {"endpoint": "e2", "secret": "s1"}}
    assert plan_diff(OLD, moved, ("connection",), target=endpoint).replaces == ["connection"]
    updated = plan_diff(OLD, moved, (), target=endpoint)
    assert updated.changes and updated.replaces == []


def test_new_credentials_update_unless_the_provider_says_they_redo_nothing():
    rotated = {**OLD, "connection": {"endpoint": "e1", "secret": "s2"}}
    assert plan_diff(OLD, rotated, ("connection",), target=endpoint).changes
    assert not plan_diff(OLD, rotated, ("connection",), target=endpoint,
                         connection_updates=False).changes


def test_ssh_host_is_address_and_port():
    assert ssh_host({"host": "10.0.0.1", "port": 22, "user": "root"}) == ("10.0.0.1", 22)
