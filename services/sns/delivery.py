"""Delivery of stored jobs to subscribers, with retries and exponential backoff.

Every SNS process runs one worker on the shared durable consumer, so jobs spread over processes and
survive restarts. A job that fails is NAKed with a delay; after the retry budget it goes to the
subscription's dead-letter queue (RedrivePolicy) if it has one, and is dropped otherwise.

SQS subscribers get messages through the SQS service's own API (SendMessage, SigV4-signed with the
credentials SNS is given), as AWS does between its services; SNS never touches SQS's storage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import ssl
import uuid
from urllib.parse import quote

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from services.awsapi import jetstream as js
from .store import DELIVERY_STREAM

log = logging.getLogger(__name__)

DEFAULT_RETRY = {"numRetries": 3, "minDelayTarget": 1, "maxDelayTarget": 20}
SQS_RETRIES = 100  # SQS targets are ours: keep trying much longer than for web hooks
DLQ_RETRY_DELAY = 60  # seconds between tries of a dead-letter queue that did not take a message


class DeliveryFailed(Exception):
    pass


class SqsSender:
    """SendMessage to an SQS-compatible endpoint, JSON protocol, SigV4."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: str, key: str, secret: str, region: str):
        self.session = session
        self.endpoint = endpoint.rstrip("/")
        self.creds = Credentials(key, secret)
        self.region = region

    async def send(self, queue_arn: str, params: dict) -> None:
        parts = queue_arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise DeliveryFailed("not an SQS queue ARN")
        body = json.dumps({"QueueUrl": f"{self.endpoint}/{parts[4]}/{parts[5]}", **params})
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body.encode(), headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"})
        SigV4Auth(self.creds, "sqs", self.region).add_auth(req)
        try:
            async with self.session.post(self.endpoint + "/", data=body.encode(), headers=dict(req.headers),
                                         timeout=aiohttp.ClientTimeout(total=10)) as r:
                if r.status != 200:
                    raise DeliveryFailed(f"SQS answered {r.status}: {(await r.text())[:200]}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise DeliveryFailed(f"SQS unreachable: {type(e).__name__}") from None


def iso_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Deliverer:
    def __init__(self, store, signer, public_url: str, sqs: SqsSender | None,
                 session: aiohttp.ClientSession, concurrency: int = 64):
        self.store = store
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.sqs = sqs
        self.session = session
        self.concurrency = concurrency
        self.busy = 0  # jobs in hand: pull no more than can start now
        self._task: asyncio.Task | None = None
        self._inflight: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        for t in list(self._inflight):
            t.cancel()

    @property
    def cert_url(self) -> str:
        return f"{self.public_url}/{self.signer.cert_name}"

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        return (f"{self.public_url}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe='')}"
                f"&Token={token}")

    def unsubscribe_url(self, sub_arn: str) -> str:
        return f"{self.public_url}/?Action=Unsubscribe&SubscriptionArn={quote(sub_arn, safe='')}"

    # --- the message documents -----------------------------------------------------------------

    def notification(self, sub: dict, n: dict, topic: dict) -> dict:
        doc = {"Type": "Notification", "MessageId": n["id"], "TopicArn": n["topic_arn"]}
        if n.get("subject") is not None:
            doc["Subject"] = n["subject"]
        doc["Message"] = n["message"]
        doc["Timestamp"] = n["ts"]
        if n.get("seq"):
            doc["SequenceNumber"] = n["seq"]
        version = topic.get("attrs", {}).get("SignatureVersion", "2") if topic else "2"
        doc["SignatureVersion"] = version
        doc["Signature"] = self.signer.sign(doc, version)
        doc["SigningCertURL"] = self.cert_url
        doc["UnsubscribeURL"] = self.unsubscribe_url(self.store.sub_arn(sub))
        if n.get("attrs"):
            doc["MessageAttributes"] = {
                k: {"Type": v["DataType"], "Value": v.get("StringValue", v.get("BinaryValue"))}
                for k, v in n["attrs"].items()}
        return doc

    def confirmation(self, sub: dict, kind: str) -> dict:
        topic_arn = self.store.topic_arn(sub["topic"])
        doc = {"Type": kind, "MessageId": str(uuid.uuid4()), "Token": sub["token"],
               "TopicArn": topic_arn,
               "Message": (f"You have chosen to subscribe to the topic {topic_arn}.\n"
                           "To confirm the subscription, visit the SubscribeURL included in this message."
                           if kind == "SubscriptionConfirmation" else
                           f"You have chosen to deactivate subscription {self.store.sub_arn(sub)}.\n"
                           "To cancel this operation and restore the subscription, visit the SubscribeURL "
                           "included in this message."),
               "SubscribeURL": self.subscribe_url(topic_arn, sub["token"]),
               "Timestamp": iso_now(), "SignatureVersion": "2"}
        doc["Signature"] = self.signer.sign(doc, "2")
        doc["SigningCertURL"] = self.cert_url
        return doc

    # --- sending -------------------------------------------------------------------------------

    async def _post(self, sub: dict, body: str, headers: dict) -> None:
        headers = {"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
                   **headers}
        try:
            async with self.session.post(sub["endpoint"], data=body.encode(), headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=10)) as r:
                if not 200 <= r.status < 300:
                    raise DeliveryFailed(f"endpoint answered {r.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError) as e:
            raise DeliveryFailed(type(e).__name__) from None

    async def deliver(self, job: dict, sub: dict) -> None:
        topic = await self.store.get_topic(sub["topic"])
        sub_arn = self.store.sub_arn(sub)
        if job["kind"] in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
            doc = self.confirmation(sub, job["kind"])
            await self._post(sub, json.dumps(doc), {
                "x-amz-sns-message-type": job["kind"], "x-amz-sns-message-id": doc["MessageId"],
                "x-amz-sns-topic-arn": doc["TopicArn"]})
            return
        n = job["n"]
        raw = sub.get("attrs", {}).get("RawMessageDelivery") == "true"
        if sub["protocol"] == "sqs":
            if self.sqs is None:
                raise DeliveryFailed("no SQS endpoint configured")
            if raw:
                params = {"MessageBody": n["message"]}
                if n.get("attrs"):
                    params["MessageAttributes"] = n["attrs"]
            else:
                params = {"MessageBody": json.dumps(self.notification(sub, n, topic))}
            if sub["endpoint"].endswith(".fifo"):
                params["MessageGroupId"] = n.get("group") or "default"
                params["MessageDeduplicationId"] = n.get("dedup") or n["id"]
            await self.sqs.send(sub["endpoint"], params)
            return
        headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": n["id"],
                   "x-amz-sns-topic-arn": n["topic_arn"], "x-amz-sns-subscription-arn": sub_arn}
        if raw:
            headers["x-amz-sns-rawdelivery"] = "true"
            await self._post(sub, n["message"], headers)
        else:
            await self._post(sub, json.dumps(self.notification(sub, n, topic)), headers)

    # --- the worker ----------------------------------------------------------------------------

    def _retry_policy(self, sub: dict) -> dict:
        policy = dict(DEFAULT_RETRY)
        for raw in (sub.get("attrs", {}).get("DeliveryPolicy"),):
            if raw:
                try:
                    p = json.loads(raw)
                    policy.update({k: v for k, v in (p.get("healthyRetryPolicy") or p).items()
                                   if k in DEFAULT_RETRY})
                except (ValueError, AttributeError):
                    pass
        if sub["protocol"] == "sqs":
            policy["numRetries"] = max(policy["numRetries"], SQS_RETRIES)
        return policy

    async def _handle(self, d: js.Delivered) -> None:
        job = json.loads(d.data)
        sub = job.get("snapshot") or await self.store.get_sub(job["sub"])
        if sub is None or (job["kind"] == "Notification" and not sub.get("confirmed")):
            await self.store.nc.publish(d.reply, b"+ACK")  # unsubscribed meanwhile
            return
        try:
            await self.deliver(job, sub)
            await self.store.nc.publish(d.reply, b"+ACK")
            return
        except DeliveryFailed as e:
            policy = self._retry_policy(sub)
            attempt = d.deliveries
            log.info("delivery to subscription %s failed (attempt %d): %s", sub["id"], attempt, e)
            if attempt <= policy["numRetries"]:
                delay = min(policy["maxDelayTarget"], policy["minDelayTarget"] * 2 ** (attempt - 1))
                await self.store.nc.publish(d.reply, js.nak_delay(delay))
                return
            reason = str(e)
        except Exception:
            log.exception("delivery job failed")
            await self.store.nc.publish(d.reply, js.nak_delay(5))
            return
        if not await self._give_up(job, sub, d.deliveries, reason):
            # The dead-letter queue did not take it: kept, and tried again later.
            await self.store.nc.publish(d.reply, js.nak_delay(DLQ_RETRY_DELAY))
            return
        await self.store.nc.publish(d.reply, b"+TERM")

    async def _handle_in_order(self, jobs: list) -> None:
        for d in jobs:
            try:
                await self._handle(d)
            finally:
                self.busy -= 1

    async def _give_up(self, job: dict, sub: dict, attempts: int, reason: str) -> bool:
        """After the last retry: the subscription's dead-letter queue, or a dropped delivery,
        each with a log line. False when the dead-letter queue could not take it."""
        what = f"{job['kind']} {job.get('n', {}).get('id', '')} to subscription {sub['id']}"
        raw = sub.get("attrs", {}).get("RedrivePolicy")
        if not raw or job["kind"] != "Notification":
            log.warning("%s dropped after %d attempts (%s): the subscription has no "
                        "dead-letter queue", what, attempts, reason)
            return True
        target = json.loads(raw)["deadLetterTargetArn"]
        if self.sqs is None:
            log.error("%s failed %d times (%s) and cannot reach its dead-letter queue %s: this SNS "
                      "has no --sqs-endpoint; kept, retried", what, attempts, reason, target)
            return False
        try:
            topic = await self.store.get_topic(sub["topic"])
            params = {"MessageBody": json.dumps(self.notification(sub, job["n"], topic))}
            if target.endswith(".fifo"):
                params["MessageGroupId"] = job["n"].get("group") or "default"
                params["MessageDeduplicationId"] = job["n"]["id"]
            await self.sqs.send(target, params)
        except Exception as e:  # noqa: BLE001 - kept and retried; the log says why
            log.warning("%s failed %d times (%s); its dead-letter queue %s did not take it (%s): "
                        "kept, retried", what, attempts, reason, target, type(e).__name__)
            return False
        log.warning("%s failed %d times (%s): sent to dead-letter queue %s", what, attempts, reason,
                    target)
        return True

    async def _run(self) -> None:
        nc = self.store.nc
        wake = await nc.subscribe("snsd.>")
        while True:
            try:
                free = self.concurrency - self.busy
                msgs = await js.pull(nc, DELIVERY_STREAM, "deliver", free) if free > 0 else []
                self.busy += len(msgs)
                # one task per subscription, in stream order: keeps a subscriber's order in a batch
                by_sub: dict[str, list] = {}
                for m in msgs:
                    by_sub.setdefault(m.subject, []).append(js.Delivered.from_msg(m))
                for jobs in by_sub.values():
                    t = asyncio.create_task(self._handle_in_order(jobs))
                    self._inflight.add(t)
                    t.add_done_callback(self._inflight.discard)
                if msgs:
                    await asyncio.sleep(0)
                    continue
                if free <= 0:
                    await asyncio.sleep(0.05)
                    continue
                try:
                    await wake.next_msg(timeout=0.5)
                except Exception:  # noqa: BLE001 - a wake-up that fails or times out only ends the wait
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery worker")
                await asyncio.sleep(1)
