"""The metadata service (services/metadata) started the way the Metadata component starts it —
`python -m services.metadata --listen … --config FILE --no-access-log` — with the config and the
inventory the Metadata/Configuration layers render for the lab stack, on loopback. A dnsmasq
lease file names 127.0.0.1 as web-1's address, so the test is web-1 asking "who am I"."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from components.render.cloud_config import instances_user_data
from components.context import CloudContext
from components.render import metadata_config
from stacks.spec import StackSpec
from tests.support.netlab import stack_spec
from tests.support.daemons import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MAC = "52:54:00:aa:00:01"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_an_instance_gets_its_identity_and_user_data(tmp_path):
    base = stack_spec("lab").model_dump(by_alias=True)
    base["instances"][0]["mac"] = MAC
    spec = StackSpec.model_validate(base)
    ctx = CloudContext(spec, "KEY", "ssh-ed25519 AAAA admin")
    port = free_port()
    (tmp_path / "leases").write_text(f"0 {MAC} 127.0.0.1 web-1 *\n")
    (tmp_path / "token.key").write_text(secrets.token_hex(24))
    (tmp_path / "inventory.yaml").write_text(metadata_config.render_inventory(
        spec, instances_user_data(ctx.spec), ssh_keys=["ssh-ed25519 AAAA admin"]))
    rendered = yaml.safe_load(metadata_config.render_config(
        spec, listen=f"127.0.0.1:{port}", inventory_path=str(tmp_path / "inventory.yaml"),
        lease_files=[str(tmp_path / "leases")], token_secret_file=str(tmp_path / "token.key"),
        vendor_data={"consul": {"agent": {"datacenter": "lab", "retry_join": ["10.10.0.1"]}}}))
    # The rendered neighbour check stays on; loopback has no ARP, so its table is a file in
    # /proc/net/arp's format where 127.0.0.1 answers from web-1's MAC.
    assert rendered["identity"]["neighbour_check"] is True
    (tmp_path / "arp").write_text("IP address       HW type     Flags       HW address"
                                  "            Mask     Device\n"
                                  f"127.0.0.1        0x1         0x2         {MAC}     *        lo\n")
    rendered["identity"]["neighbour_table"] = str(tmp_path / "arp")
    (tmp_path / "metadata.yaml").write_text(yaml.safe_dump(rendered))
    log = tmp_path / "metadata.log"
    proc = subprocess.Popen([sys.executable, "-m", "services.metadata", "--listen", f"127.0.0.1:{port}",
                             "--config", str(tmp_path / "metadata.yaml"), "--no-access-log"],
                            cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            assert proc.poll() is None, log.read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        base_url = f"http://127.0.0.1:{port}"
        status, hostname = get(f"{base_url}/latest/meta-data/hostname")
        assert status == 200 and hostname.startswith("web-1"), (status, hostname, log.read_text())
        status, user_data = get(f"{base_url}/latest/user-data")
        assert status == 200 and user_data.startswith("#cloud-config")
        config = yaml.safe_load(user_data)
        assert config["packages"] == ["nginx"] and config["fqdn"] == "web-1.lab.mammatus"
        status, keys = get(f"{base_url}/latest/meta-data/public-keys/0/openssh-key")
        assert status == 200 and "ssh-ed25519 AAAA admin" in keys
    finally:
        proc.terminate()
        proc.wait(timeout=10)
