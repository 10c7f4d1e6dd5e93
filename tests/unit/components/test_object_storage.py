import json

import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks

MOCKS = RecordingMocks()  # conftest.py installs a fresh one for this module

from components.context import CloudContext  # noqa: E402
from components.object_storage import ObjectStorage  # noqa: E402
from tests.support.netlab import stack_spec  # noqa: E402


@pytest.fixture(scope="module")
def storage():
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    return ObjectStorage("obj", ctx), ctx


def settled(c):
    return pulumi.Output.all(c.urn, c.endpoint, c.credentials, pulumi.Output.is_secret(c.credentials),
                             c.root_password)


@pulumi.runtime.test
def test_minio_server_on_the_placed_host_with_a_secret_env_file(storage):
    comp, ctx = storage

    def check(args):
        assert args[0].endswith("mammatus:storage:ObjectStorage::obj")
        assert args[1] == "http://10.0.0.21:9000"
        env = MOCKS.inputs("obj-env-write")
        assert (env["mode"], env["owner"]) == ("0600", "minio-user:minio-user")   # MinIO's alone
        assert env["content"] == f"MINIO_ROOT_USER=mammatus-admin\nMINIO_ROOT_PASSWORD={'x' * 32}\nMINIO_BROWSER=on\n"
        run = MOCKS.inputs("obj-minio-run")["create"]
        assert "minio server /var/lib/mammatus/minio --address 10.0.0.21:9000" in run
        assert "MINIO_CONFIG_ENV_FILE=/etc/mammatus/minio/minio.env" in run
        assert "User=minio-user" in run and "StateDirectory=mammatus/minio" in run
        assert MOCKS.inputs("obj-minio-run")["connection"]["host"] == "10.0.0.21"
        assert comp.api_address == "10.0.0.21:9000"
    return settled(comp).apply(check)


@pulumi.runtime.test
def test_buckets_policies_and_users(storage):
    comp, _ = storage

    def check(args):
        credentials, secret = args[2], args[3]
        assert MOCKS.inputs("obj-bucket-backups").get("policy") is None
        assert MOCKS.inputs("obj-bucket-backups")["name"] == "backups"
        public = json.loads(MOCKS.inputs("obj-bucket-public-assets")["policy"])
        assert public["Statement"][1]["Action"] == ["s3:GetObject"]
        user = MOCKS.inputs("obj-user-web")
        assert MOCKS.named("obj-user-web").typ == "pulumi-python:dynamic/mammatus:MinioUser"
        assert user["access_key"] == "web" and len(user["secret_key"]) == 40
        assert user["policy"]["Statement"][1]["Resource"] == ["arn:aws:s3:::public-assets/*"]
        assert user["connection"]["endpoint"] == "10.0.0.21:9000"
        assert set(credentials) == {"backup", "web"} and secret
    return settled(comp).apply(check)


@pytest.fixture(scope="module")
def tls_storage():
    from components.ca import CertificateAuthority
    ctx = CloudContext(stack_spec("home"), pulumi.Output.secret("KEY"), "ssh-ed25519 AAAA")
    ca = CertificateAuthority("tls-ca", ctx)
    return ObjectStorage("tls-obj", ctx, ca=ca.handle), ctx


@pulumi.runtime.test
def test_with_a_ca_minio_serves_https_with_a_certificate_for_its_host(tls_storage):
    from components.naming import domain_of, fqdn
    from tests.support.pki import mock_pki
    comp, ctx = tls_storage
    storage_1 = fqdn("storage-1", domain_of(ctx.spec))

    def check(args):
        assert args[1] == "https://10.0.0.21:9000"
        assert MOCKS.named("tls-obj-tls-cert").typ == "pulumi-python:dynamic/mammatus:StepCaCertificate"
        csr = MOCKS.inputs("tls-obj-tls-csr")
        assert csr["subject"]["commonName"] == storage_1 and csr["dnsNames"] == [storage_1]
        assert csr["ipAddresses"] == ["10.0.0.21"]   # S3 clients address it by IP
        assert MOCKS.inputs("tls-obj-tls-cert-file-write")["path"] == "/etc/mammatus/minio/certs/public.crt"
        key = MOCKS.inputs("tls-obj-tls-key-file-write")
        assert key["path"] == "/etc/mammatus/minio/certs/private.key"
        assert (key["mode"], key["owner"]) == ("0600", "minio-user:minio-user")
        assert key["content"] == mock_pki().intermediate_key_pem   # the mocked ECDSA key
        run = MOCKS.inputs("tls-obj-minio-run")["create"]
        assert "--console-address 10.0.0.21:9001 --certs-dir /etc/mammatus/minio/certs" in run
        assert args[2] == "https://10.0.0.21:9001"
    return pulumi.Output.all(comp.urn, comp.endpoint, comp.console).apply(check)


@pulumi.runtime.test
def test_with_a_ca_the_providers_verify_minio_against_the_root(tls_storage):
    from tests.support.pki import mock_pki
    comp, _ = tls_storage

    def check(_):
        # Registered by now: the test above waited for every registration of the module's build.
        for resource in ("tls-obj-bucket-backups", "tls-obj-user-web"):
            conn = MOCKS.inputs(resource)["connection"]
            assert (conn["endpoint"], conn["secure"], conn["ca_pem"]) == \
                ("10.0.0.21:9000", True, mock_pki().root_pem)
    return comp.urn.apply(check)


@pulumi.runtime.test
def test_without_a_ca_minio_speaks_http_and_connections_carry_no_root(storage):
    comp, _ = storage

    def check(_):
        assert "--certs-dir" not in MOCKS.inputs("obj-minio-run")["create"]
        assert not any(r.name.startswith("obj-tls") for r in MOCKS.resources)
        conn = MOCKS.inputs("obj-bucket-backups")["connection"]
        assert conn["secure"] is False and "ca_pem" not in conn
    return settled(comp).apply(check)
