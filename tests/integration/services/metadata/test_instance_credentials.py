"""Per-instance secrets over the real service: an instance's own InfluxDB write user and its
Consul agent's secrets, handed to it alone and only within a session (a token), never to
another instance."""

import json

import pytest

from tests.integration.services.metadata.conftest import DB1, WEB1

pytestmark = pytest.mark.integration

PATH = "/mammatus/v1/telemetry-credentials"


@pytest.fixture
def served(make_server):
    web = {**WEB1, "credentials": {
        "telemetry": {"username": "instance-web-1", "password": "s3cret-web-1"},
        "consul": {"config": '{"encrypt": "s3cret-gossip"}'}}}
    return make_server(instances=[web, DB1])


def test_an_instance_gets_its_own_credentials_within_a_session(served):
    token = served.token("127.0.0.2")
    reply = served.get("127.0.0.2", PATH, X_aws_ec2_metadata_token=token)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    assert json.loads(reply.body) == {"username": "instance-web-1", "password": "s3cret-web-1"}
    assert "s3cret" not in served.log()


def test_without_a_token_there_is_nothing(served):
    reply = served.get("127.0.0.2", PATH)
    assert reply.status == 401 and "s3cret" not in reply.body


def test_another_instance_never_sees_them(served):
    token = served.token("127.0.0.3")
    reply = served.get("127.0.0.3", PATH, X_aws_ec2_metadata_token=token)
    assert reply.status == 404 and "s3cret" not in reply.body
    # Nor with web-1's token from db-1's address: a token is bound to its caller.
    stolen = served.token("127.0.0.2")
    assert served.get("127.0.0.3", PATH, X_aws_ec2_metadata_token=stolen).status == 401


def test_a_lan_device_that_is_no_instance_is_refused(served):
    assert served.get("127.0.0.9", PATH).status == 403


def test_each_kind_has_its_own_path_and_an_unknown_kind_is_not_found(served):
    token = served.token("127.0.0.2")
    reply = served.get("127.0.0.2", "/mammatus/v1/consul-credentials",
                       X_aws_ec2_metadata_token=token)
    assert reply.status == 200
    assert json.loads(reply.body) == {"config": '{"encrypt": "s3cret-gossip"}'}
    for path in ("/mammatus/v1/vault-credentials", "/mammatus/v1/credentials",
                 "/mammatus/v1/consul-credentials/config", "/mammatus/v2/consul-credentials"):
        got = served.get("127.0.0.2", path, X_aws_ec2_metadata_token=token)
        assert got.status == 404 and "s3cret" not in got.body, path
