"""The LXD provider classes against a real LXD (Debian's 5.0.2) started by the test.

The daemon runs in a network namespace the test creates, with its own LXD_DIR, initialised by
`lxd init --preseed` (a dir pool and a bridge on a fixed documentation subnet, no NAT, no IPv6;
never `lxd init --auto`). No image server is reachable here, so the test builds a tiny image
itself: busybox-static as rootfs (init + udhcpc) with a metadata.yaml, uploaded through the
ImageProvider. Memory limits are left out of the running instance: LXD cannot set memory cgroup
limits in this sandbox ("Failed to setup cgroup limits"); the unit tests cover the key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import dill
import yaml
import pytest

from components.render import cloud_config
from components.render.lxd_profiles import macvlan_profile
from dynamic_providers.lxd import ImageProvider, InstanceProvider, ProfileProvider
from tests.support.lxd import bridged_preseed, lxd_in_netns
from tests.support.netlab import netns, run

pytestmark = pytest.mark.integration

PRESEED = bridged_preseed("mmtbr0", "198.51.100.1/24", "198.51.100.100-198.51.100.150")

UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew) ip addr add "$ip/${mask:-24}" dev "$interface" ;;
esac
exit 0
"""


def build_image(dest: Path) -> Path:
    """A unified LXD image tarball: metadata.yaml + a busybox rootfs whose init gets a lease."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    assert "statically linked" in subprocess.run(["file", "-L", busybox], capture_output=True,
                                                 text=True).stdout, "needs busybox-static"
    root = dest / "img" / "rootfs"
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root",
              "usr/share/udhcpc"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "ip", "udhcpc", "sleep", "hostname", "cat"):
        os.symlink("busybox", root / "bin" / applet)
    os.symlink("../bin/busybox", root / "sbin" / "init")
    (root / "usr/share/udhcpc/default.script").write_text(UDHCPC_SCRIPT)
    os.chmod(root / "usr/share/udhcpc/default.script", 0o755)
    (root / "etc" / "inittab").write_text(
        "::sysinit:/bin/ip link set eth0 up\n"
        "::respawn:/bin/udhcpc -f -i eth0 -s /usr/share/udhcpc/default.script\n")
    (dest / "img" / "metadata.yaml").write_text(
        "architecture: x86_64\ncreation_date: 1700000000\n"
        "properties: {description: mammatus busybox test image, os: busybox}\n")
    tarball = dest / "busybox.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(dest / "img" / "metadata.yaml", arcname="metadata.yaml")
        tar.add(root, arcname="rootfs")
    return tarball


@pytest.fixture(scope="module")
def lxd():
    if not shutil.which("lxd"):
        pytest.fail("lxd is not installed: run tools/setup/system.sh")
    with netns("lxd") as ns:
        run("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0-peer", netns=ns)
        run("ip", "link", "set", "lan0-peer", "up", netns=ns)
        run("ip", "link", "set", "lan0", "up", netns=ns)
        with lxd_in_netns(ns, PRESEED) as daemon:
            yield {"connection": {"socket": daemon.socket}, "tarball": build_image(daemon.work),
                   "netns": ns, "env": daemon.env}


def wait_for(predicate, what: str, attempts: int = 100):
    for _ in range(attempts):
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def test_profile_create_read_update_delete(lxd):
    provider = ProfileProvider()
    profile = macvlan_profile("lan0")
    props = {**profile, "connection": lxd["connection"]}
    assert not provider.check({}, props).failures
    created = provider.create(props)
    assert created.id == "macvlan"

    read = provider.read(created.id, props)
    assert read.outs["devices"]["eth0"] == {"type": "nic", "nictype": "macvlan",
                                            "parent": "lan0", "name": "eth0"}

    changed = {**props, "config": {"limits.cpu": "2"}, "description": "changed"}
    assert provider.diff(created.id, props, changed).replaces == []
    provider.update(created.id, props, changed)
    read = provider.read(created.id, changed)
    assert read.outs["config"] == {"limits.cpu": "2"} and read.outs["description"] == "changed"

    provider.delete(created.id, changed)
    assert provider.read(created.id, changed).id is None


def test_image_and_instance_lifecycle(lxd):
    conn = lxd["connection"]
    images = ImageProvider()
    image_props = {"alias": "busybox-test", "source": {"path": str(lxd["tarball"])},
                   "connection": conn}
    assert not images.check({}, image_props).failures
    image = images.create(image_props)
    assert len(image.id) == 64 and image.outs["architecture"] == "x86_64"
    assert images.read(image.id, image_props).id == image.id

    ProfileProvider().create({**macvlan_profile("lan0"), "connection": conn})

    # Through a pickling round-trip, as Pulumi ships the provider.
    instances = dill.loads(dill.dumps(InstanceProvider()))
    user_data = cloud_config.render({"packages": ["nginx"]}, hostname="web-1")
    props = {"name": "web-1", "image": "busybox-test", "size": {"cpus": 1, "memory_mb": 256},
             "profiles": ["default"], "user_data": user_data, "mac": None, "connection": conn,
             "pool": "default", "running": True, "config": {}}
    assert not instances.check({}, props).failures
    # No memory cgroup limits in this sandbox (see the module docstring).
    created = instances.create({**props, "size": {"cpus": 1, "memory_mb": 256},
                                "config": {"limits.memory": ""}})
    assert created.id == "web-1" and created.outs["status"] == "Running"

    # It gets a lease from the bridge's DHCP; read parses the address out of the state.
    live = {**props, "config": {"limits.memory": ""}}
    read = wait_for(lambda: (r := instances.read("web-1", live)).outs["ipv4"] and r,
                    "the instance's DHCP lease")
    assert read.outs["ipv4"][0].startswith("198.51.100.")
    assert read.outs["mac_address"].startswith("00:16:3e:")
    assert read.inputs["user_data"] == user_data

    # Update: more CPUs in place, then stop it.
    bigger = {**live, "size": {"cpus": 2, "memory_mb": 256}, "running": False}
    assert instances.diff("web-1", live, bigger).replaces == []
    updated = instances.update("web-1", live, bigger)
    assert updated.outs["status"] == "Stopped"
    out = subprocess.run(["lxc", "config", "get", "web-1", "limits.cpu"], env=lxd["env"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "2"

    instances.delete("web-1", bigger)
    assert instances.read("web-1", bigger).id is None
    images.delete(image.id, image_props)
    assert images.read(image.id, image_props).id is None


def test_instance_on_the_macvlan_profile_keeps_its_mac(lxd):
    conn = lxd["connection"]
    image_props = {"alias": "busybox-mac", "source": {"path": str(lxd["tarball"])}, "connection": conn}
    image = ImageProvider().create(image_props)
    profiles = ProfileProvider()
    try:
        profiles.create({**macvlan_profile("lan0"), "connection": conn})
    except Exception:  # noqa: BLE001 - the profile exists: left by the previous test
        pass
    instances = InstanceProvider()
    props = {"name": "db-1", "image": "busybox-mac", "size": {"cpus": 1, "memory_mb": 256},
             "profiles": ["default", "macvlan"], "user_data": None, "mac": "52:54:00:12:34:56",
             "connection": conn, "pool": "default", "running": True,
             "config": {"limits.memory": ""}}
    created = instances.create(props)
    try:
        assert created.outs["status"] == "Running"
        assert created.outs["mac_address"] == "52:54:00:12:34:56"
        inside = wait_for(lambda: subprocess.run(
            ["lxc", "exec", "db-1", "--", "cat", "/sys/class/net/eth0/address"], env=lxd["env"],
            capture_output=True, text=True).stdout.strip(), "the container's eth0", attempts=50)
        assert inside == "52:54:00:12:34:56"
        shown = subprocess.run(["lxc", "config", "show", "db-1", "--expanded"], env=lxd["env"],
                               capture_output=True, text=True, check=True).stdout
        assert yaml.safe_load(shown)["devices"]["eth0"]["nictype"] == "macvlan"
        # Changing the MAC replaces the instance; its size does not.
        assert instances.diff("db-1", props, {**props, "mac": "52:54:00:12:34:57"}).replaces == ["mac"]
    finally:
        instances.delete("db-1", props)
        profiles.delete("macvlan", {"connection": conn})
        ImageProvider().delete(image.id, image_props)


def client_identity(work: Path) -> tuple[str, str]:
    """A client certificate like the Compute component's (ECDSA P-384, clientAuth)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mammatus-pulumi")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


HTTPS_PROBE = """
import json, sys
from dynamic_providers.lxd import ProfileProvider
conn = json.loads(sys.argv[1])
provider = ProfileProvider()
provider.create({"name": "over-https", "config": {}, "description": "", "connection": conn,
                 "devices": {"eth0": {"type": "nic", "nictype": "macvlan", "parent": "lan0"}}})
print(json.dumps(provider.read("over-https", {"connection": conn}).outs["devices"]))
provider.delete("over-https", {"connection": conn})
"""


def test_compute_preseed_and_trust_then_the_https_api(lxd):
    """Runs the Compute component's own preseed and trust command against the real LXD, then
    the provider over LXD's HTTPS API with that client certificate (from inside the daemon's
    namespace, where the API listens). Last in the module: the preseed replaces the default
    profile (no bridge NIC on compute hosts)."""
    from components.render.lxd_host import preseed, server_cert_of, trust_command
    work = Path(tempfile.mkdtemp(prefix="mammatus-lxd-trust-"))
    try:
        cert, key = client_identity(work)
        (work / "preseed.yaml").write_text(preseed("127.0.0.1"))
        (work / "client.crt").write_text(cert)
        command = trust_command(str(work / "preseed.yaml"), str(work / "client.crt"),
                                lxd["env"]["LXD_DIR"])
        for _ in range(2):   # idempotent: the second run finds the certificate trusted
            result = subprocess.run(["ip", "netns", "exec", lxd["netns"], "bash", "-c", command],
                                    env=lxd["env"], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
        server_cert = server_cert_of(result.stdout)
        assert server_cert == Path(lxd["env"]["LXD_DIR"], "server.crt").read_text()
        trusted = subprocess.run(["lxc", "config", "trust", "list", "--format", "csv"], env=lxd["env"],
                                 capture_output=True, text=True, check=True).stdout
        assert [line.split(",")[1] for line in trusted.strip().splitlines()] == ["mammatus"]

        conn = {"endpoint": "https://127.0.0.1:8443", "client_cert": cert, "client_key": key,
                "server_cert": server_cert}
        import json
        probe = subprocess.run(["ip", "netns", "exec", lxd["netns"], sys.executable, "-c", HTTPS_PROBE,
                                json.dumps(conn)], cwd=Path(__file__).resolve().parents[3],
                               capture_output=True, text=True)
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout.strip().splitlines()[-1])["eth0"]["nictype"] == "macvlan"

        # A server that is not the pinned one is refused, and so is an untrusted client.
        other_cert, other_key = client_identity(work)
        impostor = subprocess.run(["ip", "netns", "exec", lxd["netns"], sys.executable, "-c", HTTPS_PROBE,
                                   json.dumps({**conn, "server_cert": other_cert})],
                                  cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True)
        assert impostor.returncode != 0 and "fingerprint" in impostor.stderr.lower()
        denied = subprocess.run(["ip", "netns", "exec", lxd["netns"], sys.executable, "-c", HTTPS_PROBE,
                                 json.dumps({**conn, "client_cert": other_cert, "client_key": other_key})],
                                cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True)
        assert denied.returncode != 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
