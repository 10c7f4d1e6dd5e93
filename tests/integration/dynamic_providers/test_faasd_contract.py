"""CONTRACT TEST of the faasd provider: against a fake OpenFaaS gateway, not faasd.

faasd needs containerd, CNI and registry images, none of which exist here. The fake below is an
aiohttp app on loopback implementing the gateway endpoints the provider uses, with the real
gateway's behaviour: basic auth on /system/* (401 without), POST /system/functions deploys
(400 on a missing or invalid service name or image; an error when it already exists — faasd
answers 500), PUT updates (404 when unknown), DELETE with {"functionName"}
(404 when unknown), GET /system/function/{name} returns a FunctionStatus (404 when unknown).
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading

import dill
import pytest
from aiohttp import web

from dynamic_providers.faasd import FunctionProvider, GatewayError

pytestmark = pytest.mark.integration

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
USER, PASSWORD = "admin", "s3cr3t-password"


def fake_gateway() -> tuple[web.Application, dict]:
    functions: dict[str, dict] = {}
    calls: list[tuple[str, str]] = []

    @web.middleware
    async def auth(request, handler):
        calls.append((request.method, request.path))
        if request.path.startswith("/system/"):
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return web.Response(status=401, text="Unauthorized")
        return await handler(request)

    def validate(body: dict):
        if not body.get("service"):
            raise web.HTTPBadRequest(text="service is required")
        if not NAME.match(body["service"]):
            raise web.HTTPBadRequest(text=f"(\"{body['service']}\") must be a valid DNS entry for service name")
        if not body.get("image"):
            raise web.HTTPBadRequest(text="image is required")

    async def deploy(request):
        body = await request.json()
        validate(body)
        if body["service"] in functions:
            raise web.HTTPInternalServerError(text=f"function {body['service']} already exists")
        functions[body["service"]] = body
        return web.Response(status=202)

    async def update(request):
        body = await request.json()
        validate(body)
        if body["service"] not in functions:
            raise web.HTTPNotFound(text=f"function {body['service']} not found")
        functions[body["service"]] = body
        return web.Response(status=202)

    async def delete(request):
        body = await request.json()
        name = body.get("functionName")
        if not name:
            raise web.HTTPBadRequest(text="functionName is required")
        if name not in functions:
            raise web.HTTPNotFound(text=f"function {name} not found")
        del functions[name]
        return web.Response(status=202)

    async def status(request):
        body = functions.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound(text="not found")
        return web.json_response({
            "name": body["service"], "image": body["image"], "namespace": "openfaas-fn",
            "envProcess": body.get("envProcess", ""), "envVars": body.get("envVars") or {},
            "labels": body.get("labels") or {}, "annotations": body.get("annotations") or {},
            "invocationCount": 0, "replicas": 1, "availableReplicas": 1})

    app = web.Application(middlewares=[auth])
    app.router.add_post("/system/functions", deploy)
    app.router.add_put("/system/functions", update)
    app.router.add_delete("/system/functions", delete)
    app.router.add_get("/system/function/{name}", status)
    return app, {"functions": functions, "calls": calls}


@pytest.fixture
def gateway():
    app, state = fake_gateway()
    loop = asyncio.new_event_loop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{port}", **state}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def props_for(gateway, **extra) -> dict:
    return {"name": "nightly-report", "image": "registry.mammatus/report:1", "env": {"LEVEL": "info"},
            "labels": {}, "annotations": {}, "schedule": "0 3 * * *",
            "connection": {"gateway": gateway["url"], "username": USER, "password": PASSWORD},
            **extra}


def test_function_lifecycle_with_a_cron_trigger(gateway):
    provider = dill.loads(dill.dumps(FunctionProvider()))
    checked = provider.check({}, props_for(gateway))
    assert not checked.failures
    props = checked.inputs
    created = provider.create(props)
    assert created.id == "nightly-report"
    assert created.outs["url"] == f"{gateway['url']}/function/nightly-report"
    deployed = gateway["functions"]["nightly-report"]
    assert deployed["annotations"] == {"topic": "cron-function", "schedule": "0 3 * * *"}
    assert deployed["envVars"] == {"LEVEL": "info"}

    read = provider.read("nightly-report", props)
    assert read.outs["image"] == "registry.mammatus/report:1" and read.outs["replicas"] == 1
    assert provider.diff("nightly-report", props, read.inputs).changes is False

    newer = provider.check(props, props_for(gateway, image="registry.mammatus/report:2")).inputs
    assert provider.diff("nightly-report", props, newer).replaces == []
    provider.update("nightly-report", props, newer)
    assert gateway["functions"]["nightly-report"]["image"] == "registry.mammatus/report:2"

    provider.delete("nightly-report", newer)
    assert "nightly-report" not in gateway["functions"]
    assert provider.read("nightly-report", newer).id is None
    provider.delete("nightly-report", newer)  # already gone: not an error
    assert ("DELETE", "/system/functions") in gateway["calls"]


def test_wrong_password_and_invalid_names_are_the_gateways_errors(gateway):
    provider = FunctionProvider()
    wrong = props_for(gateway, connection={"gateway": gateway["url"], "username": USER,
                                           "password": "nope"})
    with pytest.raises(GatewayError) as denied:
        provider.create(wrong)
    assert denied.value.status == 401
    # check catches what the gateway would reject, before anything is sent.
    bad = provider.check({}, props_for(gateway, name="Bad_Name", schedule="every day"))
    assert {f.property for f in bad.failures} == {"name", "schedule"}
    # and the gateway rejects it too when sent anyway.
    with pytest.raises(GatewayError) as rejected:
        provider.create(props_for(gateway, name="Bad_Name"))
    assert rejected.value.status == 400
