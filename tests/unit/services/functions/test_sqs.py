"""The SQS poller: delete only after a 2xx, leave the message otherwise."""

import asyncio
import json

from services.functions.config import SqsRoute
from services.functions.gateway import Invocation
from services.functions.sqs import QueuePoller, SqsError
from tests.support.aio import run
from .helpers import RecordingGateway

ROUTE = SqsRoute(queue="jobs", queue_url="http://10.0.0.3:9324/000000000000/jobs",
                 function="thumbnail")
MESSAGE = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "resize 7.png",
           "Attributes": {"ApproximateReceiveCount": "2"},
           "MessageAttributes": {"size": {"DataType": "Number", "StringValue": "3"}}}


class FakeSqs:
    def __init__(self, batches, fail_delete=False):
        self.batches, self.fail_delete = list(batches), fail_delete
        self.deleted: list[str] = []

    async def receive(self, route):
        if not self.batches:
            raise SqsError("no more")
        return self.batches.pop(0)

    async def delete(self, route, receipt):
        if self.fail_delete:
            raise SqsError("SQS unreachable")
        self.deleted.append(receipt)


def test_a_2xx_deletes_the_message_and_the_function_gets_body_and_headers():
    sqs, gateway = FakeSqs([[MESSAGE]]), RecordingGateway(status=202)
    poller = QueuePoller(ROUTE, sqs, gateway)
    assert run(poller.poll_once()) == 1
    assert sqs.deleted == ["r-1"] and poller.delivered == 1
    call = gateway.calls[0]
    assert call["function"] == "thumbnail" and call["body"] == b"resize 7.png"
    h = call["headers"]
    assert (h["X-Mammatus-Trigger"], h["X-Mammatus-Queue"], h["X-Mammatus-Message-Id"],
            h["X-Mammatus-Receive-Count"]) == ("sqs", "jobs", "m-1", "2")
    assert json.loads(h["X-Mammatus-Message-Attributes"])["size"]["StringValue"] == "3"


def test_a_failing_function_leaves_the_message_for_redelivery():
    sqs, gateway = FakeSqs([[MESSAGE]]), RecordingGateway(status=500)
    poller = QueuePoller(ROUTE, sqs, gateway)
    run(poller.poll_once())
    assert sqs.deleted == [] and poller.delivered == 0 and len(gateway.calls) == 1


def test_a_batch_is_invoked_in_order_and_a_failed_delete_is_not_counted():
    second = dict(MESSAGE, MessageId="m-2", ReceiptHandle="r-2", Body="two")
    sqs, gateway = FakeSqs([[MESSAGE, second]], fail_delete=True), RecordingGateway()
    poller = QueuePoller(ROUTE, sqs, gateway)
    run(poller.poll_once())
    assert [c["body"] for c in gateway.calls] == [b"resize 7.png", b"two"]
    assert poller.delivered == 0


def test_a_gateway_that_does_not_answer_pauses_the_poller():
    class Down(RecordingGateway):
        async def invoke(self, *args, **kwargs):
            await super().invoke(*args, **kwargs)
            return Invocation("thumbnail", None, "ClientConnectorError")

    sqs = FakeSqs([[MESSAGE], [MESSAGE]])
    poller = QueuePoller(ROUTE, sqs, Down())
    run(poller.poll_once())
    assert poller.gateway_down and sqs.deleted == []
    poller.gateway = RecordingGateway()
    run(poller.poll_once())
    assert not poller.gateway_down and sqs.deleted == ["r-1"]


def test_the_poller_outlives_sqs_errors_and_its_own():
    class Flaky(FakeSqs):
        calls = 0

        async def receive(self, route):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise SqsError("SQS unreachable")
            if Flaky.calls == 2:
                raise KeyError("surprise")
            if Flaky.calls == 3:
                return [MESSAGE]
            await asyncio.sleep(3600)

    async def scenario():
        sqs, gateway = Flaky([]), RecordingGateway()
        task = asyncio.ensure_future(QueuePoller(ROUTE, sqs, gateway, backoff=(0,)).run())
        for _ in range(100):
            if sqs.deleted:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return sqs.deleted, Flaky.calls
    assert run(scenario()) == (["r-1"], 4)
