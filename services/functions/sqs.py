"""SQS queues -> functions: one long-polling loop per queue (ReceiveMessage, WaitTimeSeconds
20), through the SQS API (JSON protocol, SigV4 with the connector's access key), never its
storage.

A message is deleted only once the gateway answered 2xx. Otherwise it is left alone: it comes
back when its visibility timeout ends, and after the queue's maxReceiveCount receives SQS moves
it to the queue's dead-letter queue (its RedrivePolicy; services/sqs moves it on the receive
that passes the count). Messages of a batch are invoked one after another, so a FIFO queue's
order holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .config import SqsRoute, origin
from .gateway import Gateway

log = logging.getLogger(__name__)

BACKOFF = (1, 2, 5, 10, 30)   # seconds between tries while SQS does not answer


class SqsError(Exception):
    pass


class SqsClient:
    def __init__(self, session: aiohttp.ClientSession, key: tuple[str, str], region: str):
        self.session, self.region = session, region
        self.credentials = Credentials(*key)

    async def call(self, queue_url: str, action: str, params: dict, timeout: float = 30) -> dict:
        url = origin(queue_url) + "/"
        body = json.dumps({"QueueUrl": queue_url, **params}).encode()
        request = AWSRequest(method="POST", url=url, data=body, headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{action}"})
        SigV4Auth(self.credentials, "sqs", self.region).add_auth(request)
        try:
            async with self.session.post(url, data=body, headers=dict(request.headers),
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                text = await r.text()
                status = r.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SqsError(f"SQS unreachable ({type(exc).__name__})") from None
        if status != 200:
            raise SqsError(f"{action}: SQS answered {status}: {text[:300]}")
        return json.loads(text) if text else {}

    async def receive(self, route: SqsRoute) -> list[dict]:
        found = await self.call(route.queue_url, "ReceiveMessage", {
            "WaitTimeSeconds": route.wait_seconds, "MaxNumberOfMessages": route.max_messages,
            "AttributeNames": ["All"], "MessageAttributeNames": ["All"]},
            timeout=route.wait_seconds + 30)
        return found.get("Messages") or []

    async def delete(self, route: SqsRoute, receipt: str) -> None:
        await self.call(route.queue_url, "DeleteMessage", {"ReceiptHandle": receipt})


def message_headers(route: SqsRoute, message: dict) -> dict[str, str]:
    attributes = message.get("Attributes") or {}
    headers = {"Content-Type": "text/plain; charset=utf-8", "X-Mammatus-Trigger": "sqs",
               "X-Mammatus-Queue": route.queue, "X-Mammatus-Queue-Url": route.queue_url,
               "X-Mammatus-Message-Id": str(message.get("MessageId", "")),
               "X-Mammatus-Receive-Count": str(attributes.get("ApproximateReceiveCount", ""))}
    if attributes.get("MessageGroupId"):
        headers["X-Mammatus-Message-Group-Id"] = attributes["MessageGroupId"]
    if message.get("MessageAttributes"):
        headers["X-Mammatus-Message-Attributes"] = json.dumps(message["MessageAttributes"],
                                                              sort_keys=True)
    return headers


class QueuePoller:
    def __init__(self, route: SqsRoute, client: SqsClient, gateway: Gateway,
                 backoff: tuple[float, ...] = BACKOFF):
        self.route, self.client, self.gateway, self.backoff = route, client, gateway, backoff
        self.delivered = 0   # messages invoked with 2xx and deleted
        # The gateway did not answer the last invocation: receive again only after a pause, so
        # a gateway that is down does not use up messages' receives towards the DLQ.
        self.gateway_down = False

    async def handle(self, message: dict) -> bool:
        """Invoke the function with one message; True when it was deleted."""
        route = self.route
        result = await self.gateway.invoke(route.function, str(message.get("Body", "")).encode(),
                                           message_headers(route, message),
                                           route.invoke == "async")
        if not result.ok:
            log.warning("%s: message %s left for redelivery: %s answered %s", route.queue,
                        message.get("MessageId"), route.function, result.status or result.error)
            self.gateway_down = result.status is None
            return False
        self.gateway_down = False
        try:
            await self.client.delete(route, message["ReceiptHandle"])
        except SqsError as exc:
            # It comes back after its visibility timeout and is invoked again.
            log.error("%s: message %s was invoked but not deleted (%s)", route.queue,
                      message.get("MessageId"), exc)
            return False
        self.delivered += 1
        return True

    async def poll_once(self) -> int:
        self.gateway_down = False
        messages = await self.client.receive(self.route)
        for message in messages:
            await self.handle(message)
        return len(messages)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self.poll_once()
                problem = "the gateway does not answer" if self.gateway_down else None
            except (SqsError, ValueError) as exc:
                problem = str(exc)
            except Exception:   # a poller never dies: logged, retried
                log.exception("%s: poller", self.route.queue)
                problem = "unexpected error"
            if problem is None:
                failures = 0
                continue
            delay = self.backoff[min(failures, len(self.backoff) - 1)]
            failures += 1
            log.warning("%s: %s; polling again in %ss", self.route.queue, problem, delay)
            await asyncio.sleep(delay)

