"""mammatus:storage:ObjectStorage — MinIO on the host placed as `objectStorage` (seed design:
MinIO, an S3 API with policy based bucket access).

The server runs as a HostService (`minio server DATA --address ADDR:9000 --console-address
ADDR:9001`) with its root credentials in an env file (0600; MINIO_CONFIG_ENV_FILE), the root
password generated (pulumi-random, secret). Buckets and their anonymous policies
(private/public-read/public-read-write, components/render/minio_policy.py) and one MinIO user
per name in the buckets' writers/readers (generated secret keys, an IAM policy each) are
dynamic_providers/minio.py resources.

With the cloud's CA, MinIO serves HTTPS (API and console) with a certificate from step-ca for
its host's FQDN and LAN address (`--certs-dir` holding public.crt and private.key), and
`connection` carries the root (`ca_pem`) so the providers verify it. Without a CA it speaks
plain HTTP, readable by any device on the LAN.

The binary is the pinned build of tools/minio (tools/bootstrap; GOARCH=arm64 for the ARM storage
boards), put on the host by the Delivery layer (components/delivery.py). Needs the CA's handle
(optional); provides `api_address` (host:port) and `connection` for later ones.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_random as random

from components.certificates import serving_files
from components.contracts import CaHandle
from components.runtime import delivered
from components.context import CloudContext
from components.host import HostAccess, HostFile, HostService, owned_by, service_user
from components.naming import domain_of
from components.render import minio_policy
from components.service_manager import Daemon
from dynamic_providers.minio import MinioBucket, MinioUser

DATA_DIR = "/var/lib/mammatus/minio"
USER = "minio-user"
ENV_FILE = "/etc/mammatus/minio/minio.env"
CERTS_DIR = "/etc/mammatus/minio/certs"   # MinIO serves TLS when it holds these two
TLS_CERT = f"{CERTS_DIR}/public.crt"
TLS_KEY = f"{CERTS_DIR}/private.key"
ROOT_USER = "mammatus-admin"
API_PORT = 9000
CONSOLE_PORT = 9001


def env_file(root_password: str) -> str:
    return (f"MINIO_ROOT_USER={ROOT_USER}\nMINIO_ROOT_PASSWORD={root_password}\n"
            "MINIO_BROWSER=on\n")


def tls_identity(component: pulumi.ComponentResource, name: str, ctx: CloudContext,
                 ca: Optional[CaHandle], access: HostAccess,
                 user: pulumi.Resource) -> tuple[list[str], list[HostFile]]:
    """With the cloud's CA: MinIO's certificate and key in --certs-dir. Without: nothing."""
    if ca is None:
        return [], []
    files = serving_files(ca, f"{name}-tls", access, domain_of(ctx.spec), TLS_CERT, TLS_KEY,
                          USER, user, component)
    return ["--certs-dir", CERTS_DIR], files


class ObjectStorage(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    console: pulumi.Output[str]
    root_password: pulumi.Output[str]
    buckets: pulumi.Output[list]
    credentials: pulumi.Output[dict]

    def __init__(self, name: str, ctx: CloudContext, ca: Optional[CaHandle] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mammatus:storage:ObjectStorage", name, None, opts)
        spec = ctx.spec
        access = ctx.placed_for("object_storage", "ObjectStorage")
        child = pulumi.ResourceOptions(parent=self)
        address = str(access.host.address)

        password = random.RandomPassword(f"{name}-root-password", length=32, special=False,
                                         opts=child)
        # As MinIO's own packages run it: user minio-user, which alone reads the root password.
        user = service_user(f"{name}-user", access, USER, self)
        env = HostFile(f"{name}-env", access, ENV_FILE,
                       password.result.apply(env_file), mode="0600", owner=owned_by(USER),
                       opts=pulumi.ResourceOptions(parent=self, depends_on=[user]))
        tls_args, tls_files = tls_identity(self, name, ctx, ca, access, user)
        binary = delivered(ctx, access, "minio")
        command = [binary.path, "server", DATA_DIR, "--address",
                   f"{address}:{API_PORT}", "--console-address", f"{address}:{CONSOLE_PORT}",
                   *tls_args]
        service = HostService(
            f"{name}-minio", access,
            Daemon(name="minio", description="MinIO object storage", command=command,
                   environment={"MINIO_CONFIG_ENV_FILE": ENV_FILE}, user=USER,
                   state_dir=DATA_DIR.removeprefix("/var/lib/")),
            config=[" ".join(command), binary.sha256], depends_on=[env, *tls_files, *binary.deps],
            opts=child)

        # Known but for the secret, so a preview can check it (the providers keep it secret).
        connection = {"endpoint": f"{address}:{API_PORT}", "access_key": ROOT_USER,
                      "secret_key": pulumi.Output.secret(password.result), "secure": ca is not None}
        if ca is not None:
            connection["ca_pem"] = ca.root_pem   # what the providers verify MinIO with
        after = pulumi.ResourceOptions(parent=self, depends_on=[service])
        buckets = [MinioBucket(f"{name}-bucket-{b.name}", name=b.name,
                               policy=minio_policy.bucket_policy(b.name, b.policy),
                               connection=connection, force_destroy=b.force_destroy, opts=after)
                   for b in spec.buckets]
        credentials = {}
        for user, (writes, reads) in minio_policy.user_grants(spec).items():
            secret = random.RandomPassword(f"{name}-user-{user}-secret", length=40, special=False,
                                           opts=child)
            MinioUser(f"{name}-user-{user}", access_key=user, secret_key=secret.result,
                      policy=minio_policy.user_policy(writes, reads), connection=connection,
                      opts=pulumi.ResourceOptions(parent=self, depends_on=[service, *buckets]))
            credentials[user] = secret.result.apply(lambda s, u=user: {"access_key": u, "secret_key": s})

        # Known once the server runs.
        scheme = "https" if ca is not None else "http"
        self.endpoint = service.unit.apply(lambda _: f"{scheme}://{address}:{API_PORT}")
        self.console = pulumi.Output.from_input(f"{scheme}://{address}:{CONSOLE_PORT}")
        self.root_password = pulumi.Output.secret(password.result)
        self.buckets = pulumi.Output.from_input([b.name for b in spec.buckets])
        self.credentials = pulumi.Output.secret(pulumi.Output.all(**credentials)) if credentials \
            else pulumi.Output.from_input({})
        self.api_address = f"{address}:{API_PORT}"   # host:port, as S3 clients are configured
        self.connection = connection
        self.register_outputs({"endpoint": self.endpoint, "console": self.console,
                               "root_password": self.root_password, "buckets": self.buckets,
                               "credentials": self.credentials})
