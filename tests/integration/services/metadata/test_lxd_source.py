"""The LXD inventory source end to end: the service asks LXD's API (a stand-in speaking LXD's
REST protocol on a unix socket, as /var/lib/lxd/unix.socket does) through pylxd."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from aiohttp import web

pytestmark = pytest.mark.integration


def lxd_instance(name: str, mac: str, **config) -> dict:
    return {
        "name": name, "type": "container", "status": "Running", "location": "none",
        "project": "default",
        "config": {}, "devices": {},
        "expanded_config": dict({"image.os": "Debian", "image.release": "bookworm",
                                 "volatile.uuid": f"uuid-{name}",
                                 "volatile.eth0.hwaddr": mac}, **config),
        "expanded_devices": {"eth0": {"type": "nic", "nictype": "bridged", "parent": "lxdbr0"},
                             "root": {"type": "disk", "path": "/", "pool": "default"}},
    }


class FakeLxd:
    """Just enough of LXD's API for pylxd: GET /1.0 and GET /1.0/instances?recursion=1."""

    def __init__(self, socket_path):
        self.socket_path = str(socket_path)
        self.instances: list[dict] = []
        self.requests: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sync(self, metadata):
        return web.json_response({"type": "sync", "status": "Success", "status_code": 200,
                                  "operation": "", "error_code": 0, "error": "",
                                  "metadata": metadata})

    async def _root(self, request):
        self.requests.append(request.path_qs)
        return self._sync({"api_extensions": ["projects", "instances"], "api_status": "stable",
                           "api_version": "1.0", "auth": "trusted", "environment": {}})

    async def _instances(self, request):
        self.requests.append(request.path_qs)
        assert request.query.get("recursion") == "1"
        return self._sync(list(self.instances))

    def _run(self):
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/1.0", self._root)
        app.router.add_get("/1.0/instances", self._instances)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.UnixSite(self._runner, self.socket_path).start())
        self._ready.set()
        self._loop.run_forever()

    def start(self):
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self):
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def lxd(tmp_path):
    fake = FakeLxd(tmp_path / "lxd.socket").start()
    yield fake
    fake.stop()


def test_instances_from_lxd(make_server, lxd):
    lxd.instances = [lxd_instance(
        "app-1", "00:16:3e:aa:bb:01",
        **{"cloud-init.user-data": "#cloud-config\nruncmd: [[echo, from-lxd]]\n",
           "cloud-init.ssh-keys.root": "root:ssh-ed25519 AAAAC3Nza lxdkey@test"})]
    server = make_server({"identity": {"inventories": [
        {"type": "lxd", "endpoint": lxd.socket_path, "refresh_seconds": 0.2}]}},
        instances=[], leases=["0 00:16:3e:aa:bb:01 127.0.0.6 app-1 *",
                              "0 00:16:3e:aa:bb:02 127.0.0.7 app-2 *"])
    assert server.get("127.0.0.6", "/latest/meta-data/local-hostname").body == "app-1.mammatus"
    assert server.get("127.0.0.6", "/latest/meta-data/ami-id").body == "debian-bookworm"
    assert "from-lxd" in server.get("127.0.0.6", "/latest/user-data").body
    key = server.get("127.0.0.6", "/latest/meta-data/public-keys/0/openssh-key").body
    assert key == "ssh-ed25519 AAAAC3Nza lxdkey@test"
    assert any(r.startswith("/1.0/instances") for r in lxd.requests)

    # Launched after the service started: found without a restart.
    assert server.get("127.0.0.7", "/latest/meta-data/instance-id").status == 403
    lxd.instances = lxd.instances + [lxd_instance("app-2", "00:16:3e:aa:bb:02")]
    deadline = time.monotonic() + 10
    while server.get("127.0.0.7", "/latest/meta-data/instance-id").status != 200:
        assert time.monotonic() < deadline, "new LXD instance never became visible"
        time.sleep(0.2)
    assert server.get("127.0.0.7", "/latest/meta-data/local-hostname").body == "app-2.mammatus"

    # Deleted in LXD: refused once the cache expires, even though its lease is still there.
    lxd.instances = lxd.instances[1:]
    deadline = time.monotonic() + 10
    while server.get("127.0.0.6", "/latest/meta-data/instance-id").status != 403:
        assert time.monotonic() < deadline, "deleted LXD instance was still served"
        time.sleep(0.2)


def test_lxd_down_is_503_not_a_guess(make_server, tmp_path):
    server = make_server({"identity": {"inventories": [
        {"type": "lxd", "endpoint": str(tmp_path / "no-lxd.socket")}]}},
        instances=[], leases=["0 00:16:3e:aa:bb:01 127.0.0.6 app-1 *"])
    reply = server.get("127.0.0.6", "/latest/meta-data/instance-id")
    assert reply.status == 503 and "unavailable" in reply.body
    assert "identity source unavailable" in server.log()
