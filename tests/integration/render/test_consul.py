"""The rendered Consul configs checked by the real `consul validate`, and a real Consul server
run from them (tools/consul: Consul v1.16.1, MPL-2.0, from its Go module; Consul is not packaged
in Debian bookworm): default-deny ACLs, the management token, gossip encryption."""

import base64
import json
import re
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from components.render import consul
from tests.support import consul as real
from tests.support.daemons import stop, wait_for
from tests.support.paths import built_tool

pytestmark = pytest.mark.integration

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="module")
def binary():
    return built_tool("consul")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = real.start_server(tmp_path_factory.mktemp("consul"))
    yield server
    real.stop_server(server)


def _validate(binary, *paths):
    return subprocess.run([binary, "validate", *map(str, paths)], capture_output=True, text=True,
                          timeout=60)


def _tls(tmp_path) -> consul.TlsFiles:
    return consul.TlsFiles(*(str(tmp_path / n) for n in ("root.pem", "server.crt", "server.key")))


def test_the_binary_is_consul_1_16_1_with_its_nested_modules_from_1_16_1(binary):
    assert re.match(r"Consul v1\.16\.1\n", subprocess.run([binary, "version"], capture_output=True,
                                                           text=True, timeout=30).stdout)
    info = subprocess.run(["go", "version", "-m", binary], capture_output=True, text=True,
                          timeout=60).stdout
    # Each nested module is the version consul v1.16.1's own go.mod names (tools/consul/go.mod),
    # never a later one (those are under the BUSL).
    for module, version in (("envoyextensions", "v0.4.1"), ("troubleshoot", "v0.3.1"),
                            ("api", "v1.24.0"), ("sdk", "v0.14.1"), ("proto-public", "v0.4.1")):
        used = re.findall(rf"^\s+(?:dep|=>)\s+github\.com/hashicorp/consul/{module}\s+(\S+)",
                          info, flags=re.M)
        assert used and set(used) == {version}, (module, used)


def test_server_config_and_secrets_are_valid(binary, tmp_path):
    conf, secrets = tmp_path / "server.json", tmp_path / "secrets.json"
    conf.write_text(consul.server_config("control", "10.0.0.2", ["10.0.0.2", "10.0.0.3", "10.0.0.4"],
                                         "home", "consul", _tls(tmp_path),
                                         data_dir=str(tmp_path / "data")))
    secrets.write_text(consul.secrets_config(KEY, str(uuid.uuid4()), str(uuid.uuid4())))
    result = _validate(binary, conf, secrets)
    assert result.returncode == 0 and "Configuration is valid!" in result.stdout, result.stderr


def test_a_bad_gossip_key_is_refused(binary, tmp_path):
    conf, secrets = tmp_path / "server.json", tmp_path / "secrets.json"
    conf.write_text(consul.server_config("c", "10.0.0.2", ["10.0.0.2"], "home", "consul",
                                         _tls(tmp_path), data_dir=str(tmp_path / "data")))
    secrets.write_text(consul.secrets_config("not-a-key", str(uuid.uuid4())))
    result = _validate(binary, conf, secrets)
    assert result.returncode != 0 and "encrypt" in result.stdout + result.stderr


def test_instance_agent_config_is_valid(binary, tmp_path):
    conf = tmp_path / "agent.json"
    conf.write_text(consul.agent_config(["10.0.0.2"], "home", "consul", str(tmp_path / "root.pem"),
                                        data_dir=str(tmp_path / "data")))
    result = _validate(binary, conf)
    assert result.returncode == 0 and "Configuration is valid!" in result.stdout, result.stderr


def test_an_unknown_key_is_refused(binary, tmp_path):
    conf = tmp_path / "bad.json"
    conf.write_text(consul.server_config("c", "10.0.0.2", ["10.0.0.2"], "home", "consul",
                                         _tls(tmp_path)).replace('"server"', '"servre"'))
    result = _validate(binary, conf)
    assert result.returncode != 0 and "invalid config key servre" in result.stdout + result.stderr


def test_the_api_is_https_only_and_anonymous_requests_are_refused(server):
    status, body = server.api("GET", "/v1/kv/app/config")
    assert status == 403 and "Permission denied" in body
    status, _ = server.api("PUT", "/v1/kv/app/config", body=b"anonymous")
    assert status == 403
    # A token Consul does not know is refused the same way.
    assert server.api("GET", "/v1/kv/app/config", str(uuid.uuid4()))[0] == 403
    # Plain HTTP is not served on the HTTPS port (Go's TLS server answers it with a 400).
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url.replace("https://", "http://") + "/v1/status/leader",
                               timeout=5)
    assert refused.value.code == 400


def test_the_management_token_works(server):
    token = server.management_token
    assert server.api("PUT", "/v1/kv/app/config", token, b"v1") == (200, "true")
    status, body = server.api("GET", "/v1/kv/app/config?raw", token)
    assert (status, body) == (200, "v1")
    status, body = server.api("GET", "/v1/acl/token/self", token)
    assert status == 200 and json.loads(body)["Policies"][0]["Name"] == "global-management"
    # And the key it wrote stays out of an anonymous reader's reach.
    assert server.api("GET", "/v1/kv/app/config?raw")[0] == 403


def test_gossip_without_the_key_is_rejected(server, tmp_path):
    keyless, keyless_http, keyless_log = real.client_agent(server, tmp_path, "no-key", None)
    keyed, keyed_http, _ = real.client_agent(server, tmp_path, "with-key", server.gossip_key)
    try:
        refused = real.join(server, keyless_http)
        assert refused.returncode != 0, refused.stdout
        # The agent that holds the key joins the same server (so it is the key that counts).
        joined = real.join(server, keyed_http)
        assert joined.returncode == 0, joined.stdout + joined.stderr
        wait_for(lambda: {m["Name"]: m["Status"] for m in server.members()}.get("with-key") == 1,
                 "the keyed agent alive in the server's members", attempts=100, delay=0.2)
        names = {m["Name"] for m in server.members()}
        assert "no-key" not in names and {"server-1", "with-key"} <= names
    finally:
        stop(keyless)
        stop(keyed)
    with open(server.log) as f:
        log = f.read()
    assert re.search(r"No installed keys could decrypt the message|Encryption is configured but "
                     r"remote state is not encrypted", log), log[-2000:]
