"""The alert relay: Kapacitor posts each alert here (its `httppost` handler, Basic auth), the
relay publishes it to an SNS topic of the cloud, as a CloudWatch alarm notifies SNS, so alerts
reach whoever subscribes: an SQS queue, an http(s) hook.

Kapacitor does not retry a post, so the relay answers 202 once the alert is queued and keeps
publishing (backing off) until SNS accepts it; the queue is in memory and bounded (an alert
that does not fit, or a restart of the relay, loses alerts and says so in the log).

The SNS message is JSON (id, level, previousLevel, message, time, duration, and the tags of the
series that fired, e.g. host); the subject is "<LEVEL>: <message>" cut to SNS's 100 characters.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

log = logging.getLogger(__name__)

LEVELS = ("OK", "INFO", "WARNING", "CRITICAL")
MAX_BODY = 256 * 1024
QUEUE_LIMIT = 1000
BACKOFF = (1, 2, 5, 10, 30)   # seconds between tries, the last one repeated


class BadAlert(ValueError):
    pass


def parse_alert(body: bytes) -> dict[str, Any]:
    """Kapacitor's alert JSON -> the message the relay publishes. Raises BadAlert."""
    try:
        alert = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadAlert("the body is not JSON") from None
    if not isinstance(alert, dict):
        raise BadAlert("the body is not a JSON object")
    for key in ("id", "message", "level"):
        if not isinstance(alert.get(key), str):
            raise BadAlert(f"{key} must be a string")
    if alert["level"] not in LEVELS:
        raise BadAlert(f"level must be one of {', '.join(LEVELS)}")
    tags: dict[str, str] = {}
    for series in (alert.get("data") or {}).get("series") or []:
        if isinstance(series, dict) and isinstance(series.get("tags"), dict):
            tags.update({str(k): str(v) for k, v in series["tags"].items()})
    return {"id": alert["id"], "level": alert["level"],
            "previousLevel": alert.get("previousLevel") or "", "message": alert["message"],
            "time": alert.get("time") or "", "duration": alert.get("duration") or 0, "tags": tags}


def subject(message: dict[str, Any]) -> str:
    """SNS's Subject: ASCII, no line breaks, at most 100 characters."""
    text = f"{message['level']}: {message['message']}"
    text = "".join(c if 32 <= ord(c) < 127 else " " for c in text)
    return text if len(text) <= 100 else text[:99] + "~"


def publish_form(topic_arn: str, message: dict[str, Any]) -> dict[str, str]:
    """SNS Publish (query protocol) with the level as a message attribute, to filter on."""
    return {"Action": "Publish", "Version": "2010-03-31", "TopicArn": topic_arn,
            "Subject": subject(message), "Message": json.dumps(message, sort_keys=True),
            "MessageAttributes.entry.1.Name": "level",
            "MessageAttributes.entry.1.Value.DataType": "String",
            "MessageAttributes.entry.1.Value.StringValue": message["level"]}


def authorized(header: Optional[str], user: str, password: str) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:], validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(given, f"{user}:{password}".encode())


@dataclass
class SnsTarget:
    endpoint: str
    topic_arn: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    ca_file: Optional[str] = None


class Relay:
    def __init__(self, target: SnsTarget, user: str, password: str,
                 backoff: tuple[float, ...] = BACKOFF, queue_limit: int = QUEUE_LIMIT):
        self.target, self.user, self.password = target, user, password
        self.backoff = backoff
        self.queue: asyncio.Queue = asyncio.Queue(queue_limit)
        self.published = 0
        self._session: Optional[aiohttp.ClientSession] = None
        self._worker: Optional[asyncio.Task] = None

    async def start(self, _app=None) -> None:
        ssl_ctx = ssl.create_default_context(cafile=self.target.ca_file) \
            if self.target.endpoint.startswith("https") else None
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx))
        self._worker = asyncio.create_task(self._publish_forever())

    async def stop(self, _app=None) -> None:
        if self._worker:
            self._worker.cancel()
        if self._session:
            await self._session.close()
        if not self.queue.empty():
            log.error("stopping with %d alerts not yet published: they are lost", self.queue.qsize())

    async def handle(self, request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization"), self.user, self.password):
            return web.json_response({"error": "authentication required"}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="alerts"'})
        if (request.content_length or 0) > MAX_BODY:
            return web.json_response({"error": "alert too large"}, status=413)
        try:
            message = parse_alert(await request.read())
        except BadAlert as err:
            return web.json_response({"error": str(err)}, status=400)
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.error("alert %s (%s) dropped: %d alerts wait already", message["id"],
                      message["level"], self.queue.qsize())
            return web.json_response({"error": "too many alerts waiting"}, status=503)
        return web.json_response({"queued": message["id"]}, status=202)

    async def publish(self, message: dict[str, Any]) -> None:
        t = self.target
        body = urlencode(publish_form(t.topic_arn, message)).encode()
        url = t.endpoint.rstrip("/") + "/"
        req = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(t.access_key, t.secret_key), "sns", t.region).add_auth(req)
        async with self._session.post(url, data=body, headers=dict(req.headers),
                                      timeout=aiohttp.ClientTimeout(total=15)) as resp:
            if resp.status != 200:
                raise RuntimeError(f"SNS answered {resp.status}: {(await resp.text())[:300]}")

    async def _publish_forever(self) -> None:
        while True:
            message = await self.queue.get()
            attempt = 0
            while True:
                try:
                    await self.publish(message)
                    self.published += 1
                    log.info("alert %s (%s) published", message["id"], message["level"])
                    break
                except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as err:
                    delay = self.backoff[min(attempt, len(self.backoff) - 1)]
                    log.warning("alert %s not published yet (%s); again in %ss", message["id"],
                                err, delay)
                    attempt += 1
                    await asyncio.sleep(delay)


def build_app(relay: Relay) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/kapacitor", relay.handle)
    app.on_startup.append(relay.start)
    app.on_cleanup.append(relay.stop)
    return app
