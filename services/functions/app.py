"""Wire the connector: the SNS subscriber's routes on aiohttp, a poller per SQS queue and the
cron scheduler as background tasks, one gateway client for all."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import ssl
from typing import Optional

import aiohttp
from aiohttp import web
from cryptography import x509

from .config import Config, ConfigError, Secrets
from .cron import CronJob, CronScheduler
from .gateway import Gateway
from .sns import MAX_BODY, SnsSubscriber, Verifier
from .sqs import QueuePoller, SqsClient

log = logging.getLogger(__name__)


def load_roots(config: Config) -> Optional[list[x509.Certificate]]:
    if config.ca_file is None:
        return None
    try:
        return x509.load_pem_x509_certificates(config.ca_file.read_bytes())
    except OSError as exc:
        raise ConfigError(f"ca_file {config.ca_file}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"ca_file {config.ca_file}: no PEM certificate in it") from None


def cron_headers(job: CronJob, instant: dt.datetime) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Mammatus-Trigger": "cron",
            "X-Mammatus-Schedule": job.schedule.expression, "X-Mammatus-Timezone": job.timezone,
            "X-Mammatus-Tick": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}


def cron_body(job: CronJob, instant: dt.datetime) -> bytes:
    local = instant.astimezone(job.tz)
    return json.dumps({"schedule": job.schedule.expression, "timezone": job.timezone,
                       "tick": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "local": local.isoformat()}, sort_keys=True).encode()


async def build(config: Config, secrets: Secrets,
                roots: Optional[list[x509.Certificate]] = None, clock=None) -> web.Application:
    """The app; `roots`: load_roots(config), read before the loop starts."""
    gateway = Gateway(config.gateway.url, config.gateway.username, secrets.gateway_password,
                      config.gateway.timeout_seconds,
                      str(config.gateway.ca_file) if config.gateway.ca_file else None)
    await gateway.start()
    context = ssl.create_default_context(cafile=str(config.ca_file)) if config.ca_file else None
    aws = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context) if context else None)
    app = web.Application(client_max_size=MAX_BODY)

    async def health(_request):
        return web.Response(text="ok\n")
    app.router.add_get("/health", health)
    if config.sns is not None:
        verifier = Verifier(config.sns.endpoint, aws, roots, config.sns.signing_name)
        SnsSubscriber(config.sns.routes, verifier, gateway).add_routes(app)

    tasks: list[asyncio.Task] = []
    if config.sqs is not None:
        client = SqsClient(aws, secrets.aws_key, config.aws.region)
        tasks += [asyncio.ensure_future(QueuePoller(r, client, gateway).run())
                  for r in config.sqs.routes]

    async def fire(job: CronJob, instant: dt.datetime) -> None:
        try:
            await gateway.invoke(job.function, cron_body(job, instant),
                                 cron_headers(job, instant), job.asynchronous)
        except Exception:   # one tick's failure is logged, the next one comes
            log.exception("cron %s of %s", job.schedule.expression, job.function)
    scheduler = CronScheduler([c.job() for c in config.cron], fire,
                              **({"clock": clock} if clock else {}))
    tasks.append(asyncio.ensure_future(scheduler.run()))
    log.info("connector: %d SNS routes, %d SQS queues, %d cron schedules",
             len(config.sns.routes) if config.sns else 0,
             len(config.sqs.routes) if config.sqs else 0, len(config.cron))

    async def close(_app):
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await gateway.close()
        await aws.close()
    app.on_cleanup.append(close)
    return app
