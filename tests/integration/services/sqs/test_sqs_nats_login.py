"""NATS as deployed with users: the service logs in with the password from its file, and a
client without one (any other program on the LAN or the host) is refused."""

import nats
import pytest

from tests.support import aio
from tests.support.nats import NatsServer
from .procs import Service, client, write_credentials

pytestmark = pytest.mark.integration


def test_the_service_logs_in_and_a_stranger_is_refused(tmp_path):
    server = NatsServer(tmp_path / "nats", users={"sqs": "pw-for-sqs"}).start()
    password = tmp_path / "nats-password"
    password.write_text("pw-for-sqs\n")
    svc = Service("services.sqs", [
        "--nats", server.url, "--nats-user", "sqs", "--nats-password-file", str(password),
        "--credentials", str(write_credentials(tmp_path / "creds"))], tmp_path / "sqs.log").start()
    try:
        sqs = client("sqs", svc.endpoint)
        url = sqs.create_queue(QueueName="behind-a-login")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hi")
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hi"

        async def stranger(**login):
            nc = await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0,
                                    connect_timeout=2, **login)
            await nc.close()
        for login in ({}, {"user": "sqs", "password": "guess"}):
            with pytest.raises(Exception, match="(?i)authorization"):
                aio.run(stranger(**login))
    finally:
        svc.stop()
        server.stop()
