"""Debian's cloud-init 22.4.2 as a real metadata client, hermetic and loopback-only.

`ensure_cloudinit()` downloads the bookworm .deb with apt-get (once, into .cache/metadata/) and
extracts it; `run_cloudinit(...)` runs cloud-init's own datasource code in a subprocess that:
  * puts the extracted dist-packages on sys.path (its deps come from the project venv),
  * binds every IPv4 socket to a chosen loopback source address (the instance it plays) and
    refuses any connection or name lookup off 127.0.0.0/8,
  * keeps all of cloud-init's paths (cloud_dir, run_dir, log) in a work directory, never
    /var/lib/cloud, /run/cloud-init or /etc,
  * fakes only the platform probes (DMI, kernel cmdline, block devices),
and prints what cloud-init ended up with as JSON.

Run as a script (`python cloudinit.py SPEC.json`) it is that subprocess.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "metadata"
VERSION = "22.4.2"


def _dist_packages(root: Path) -> Path:
    return root / "usr" / "lib" / "python3" / "dist-packages"


def ensure_cloudinit(cache: Path = CACHE) -> Path:
    """The dist-packages dir of an extracted cloud-init 22.4.2 (downloading it if needed)."""
    target = cache / f"cloud-init-{VERSION}"
    if (_dist_packages(target) / "cloudinit").is_dir():
        return _dist_packages(target)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions must not extract at once
        if (_dist_packages(target) / "cloudinit").is_dir():
            return _dist_packages(target)
        debs = sorted(glob.glob(str(cache / f"cloud-init_{VERSION}-*_all.deb")))
        if not debs:
            download = ["apt-get", "download", "cloud-init"]
            if subprocess.run(download, cwd=cache, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
                subprocess.run(download, cwd=cache, check=True, capture_output=True)
            debs = sorted(glob.glob(str(cache / f"cloud-init_{VERSION}-*_all.deb")))
            if not debs:
                found = [p.name for p in cache.glob("cloud-init_*.deb")]
                raise RuntimeError(f"apt-get download cloud-init did not give {VERSION}: {found}"
                                   " (this needs Debian 12 bookworm's archive)")
        staging = Path(tempfile.mkdtemp(dir=cache))
        subprocess.run(["dpkg-deb", "-x", debs[-1], str(staging)], check=True)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return _dist_packages(target)


def run_cloudinit(workdir: Path, source_ip: Optional[str], datasource: str, url: str,
                  platform: str = "unknown", timeout: float = 120, max_wait: int = 20,
                  netns: Optional[str] = None, allow: tuple = (),
                  default_urls: bool = False) -> dict:
    """Run one datasource (ec2 | nocloud | openstack | openstack-reader) as `source_ip`.

    With `netns`, cloud-init runs inside that network namespace (a test-made "instance"), with
    no source binding when source_ip is None; `allow` adds addresses it may reach there (e.g.
    169.254.169.254). `default_urls`: leave the datasources' built-in metadata addresses alone,
    so cloud-init is told nothing but what it would find on a real cloud."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec = {"dist_packages": str(ensure_cloudinit()), "workdir": str(workdir),
            "source_ip": source_ip, "datasource": datasource, "url": url, "platform": platform,
            "max_wait": max_wait, "allow": list(allow), "default_urls": default_urls}
    spec_file = workdir / "spec.json"
    spec_file.write_text(json.dumps(spec))
    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.run(prefix + [sys.executable, __file__, str(spec_file)], capture_output=True,
                          text=True, timeout=timeout, cwd=workdir)
    (workdir / "driver.stderr").write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"cloud-init driver failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


# -- the subprocess side ------------------------------------------------------------------------

def _loopback_only(source_ip: Optional[str], allow: list) -> None:
    import ipaddress
    import socket

    def check(host) -> None:
        try:
            ok = ipaddress.ip_address(host).is_loopback or host in allow
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"test guard: connection to {host} refused (loopback only)")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def prepare(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            check(address[0])
            if source_ip and sock.family == socket.AF_INET and sock.getsockname()[1] == 0:
                sock.bind((source_ip, 0))  # play the instance that owns source_ip

    def connect(sock, address):
        prepare(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        prepare(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None:
            check(host.decode() if isinstance(host, bytes) else host)
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo


def _platform(platform: str) -> dict:
    if platform == "aws":  # what identify_aws() accepts: an ec2 uuid from the hypervisor
        return {"uuid": "ec2e1916-9099-7caf-fd21-012345abcdef", "uuid_source": "hypervisor",
                "serial": "ec2e1916-9099-7caf-fd21-012345abcdef", "asset_tag": "",
                "vendor": "amazon ec2", "product_name": ""}
    return {"uuid": "", "uuid_source": "dmi", "serial": "", "asset_tag": "", "vendor": "",
            "product_name": ""}


def _drive(spec: dict) -> dict:
    import copy
    import logging

    # This script's own directory must not shadow the `cloudinit` package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, spec["dist_packages"])
    _loopback_only(spec["source_ip"], spec["allow"])
    work = Path(spec["workdir"])
    url = spec["url"].rstrip("/")

    from cloudinit import dmi, stages, util
    from cloudinit.config import modules
    from cloudinit.sources import DataSourceEc2, DataSourceNoCloud, DataSourceOpenStack
    from cloudinit.sources.helpers import ec2 as ec2_helper
    from cloudinit.sources.helpers import openstack as os_helper

    handler = logging.FileHandler(work / "cloud-init.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    # Platform probes: this machine is neither AWS nor OpenStack, and its DMI, kernel cmdline
    # and block devices must not leak into the test.
    DataSourceEc2._collect_platform_data = lambda: _platform(spec["platform"])
    DataSourceOpenStack.detect_openstack = lambda accept_oracle=False: True
    dmi.read_dmi_data = lambda key: None
    util.get_cmdline = lambda: ""
    util.find_devs_with = lambda *a, **k: []
    # Without this, is_resolvable() probes DNS for made-up names to detect DNS hijacking.
    util.is_resolvable = lambda name: name in ["127.0.0.1", "localhost"] + spec["allow"]
    # The OpenStack reader fetches EC2 metadata from a hard-coded 169.254.169.254.
    os_helper.MetadataReader._read_ec2_metadata = lambda self: ec2_helper.get_instance_metadata(
        metadata_address=self.base_path, timeout=self.timeout, retries=self.retries)

    if spec["datasource"] == "openstack-reader":
        results = os_helper.MetadataReader(url, timeout=5, retries=0).read_v2()
        return {"reader": results}

    paths = {"cloud_dir": str(work / "cloud"), "run_dir": str(work / "run"),
             "templates_dir": str(work / "templates"), "docs_dir": str(work / "docs")}
    urls = {} if spec["default_urls"] else {"metadata_urls": [url]}
    sys_cfg = {
        "system_info": {"distro": "debian", "paths": paths},
        "def_log_file": str(work / "cloud-init-output.log"),
        "syslog_fix_perms": [],
        "datasource": {
            "Ec2": dict(urls, max_wait=spec["max_wait"], timeout=5),
            "NoCloud": {"seedfrom": url + "/nocloud/"},
            "OpenStack": dict(urls, max_wait=spec["max_wait"], timeout=5, retries=1,
                              apply_network_config=False),
        },
        "datasource_list": ["NoCloud", "Ec2", "OpenStack", "None"],
        "vendor_data": {"enabled": True},
    }
    # cloud-init's built-in defaults under ours; nothing from this machine's /etc/cloud.
    base_cfg = util.mergemanydict([sys_cfg, util.get_builtin_cfg()])
    stages.fetch_base_config = lambda **kwargs: copy.deepcopy(base_cfg)
    init = stages.Init(ds_deps=[])
    init.read_cfg()
    init.initialize()
    cls = {"ec2": DataSourceEc2.DataSourceEc2,
           "nocloud": DataSourceNoCloud.DataSourceNoCloudNet,
           "openstack": DataSourceOpenStack.DataSourceOpenStack}[spec["datasource"]]
    ds = cls(init.cfg, init.distro, init.paths)
    if not ds.get_data():
        return {"found": False}
    init.datasource = ds
    init._reset()  # as Init.fetch() does: paths/distro are rebuilt around the datasource
    init.instancify()
    init.update()
    init.consume_data()
    merged = modules.Modules(init, reporter=init.reporter).cfg  # what cc_* modules see

    vendor_dir = init.paths.get_ipath_cur("vendor_scripts")

    def text(raw):
        return raw.decode() if isinstance(raw, bytes) else raw

    return {
        "found": True,
        "cloud_name": ds.cloud_name,
        "instance_id": ds.get_instance_id(),
        "hostname": ds.get_hostname(fqdn=False).hostname,
        "fqdn": ds.get_hostname(fqdn=True).hostname,
        "ssh_keys": ds.get_public_ssh_keys(),
        "metadata": ds.metadata,
        "userdata_raw": text(ds.get_userdata_raw()),
        "vendordata_raw": text(ds.get_vendordata_raw()),
        "vendordata2_raw": text(ds.get_vendordata2_raw()),
        "used_token": bool(getattr(ds, "_api_token", None)),
        "api_version": (getattr(ds, "_crawled_metadata", None) or {}).get(
            "_metadata_api_version"),
        "merged": {k: merged.get(k) for k in ("runcmd", "write_files", "manage_etc_hosts",
                                              "ssh_pwauth", "packages")},
        # Vendor scripts as cloud-init stored them for cc_scripts_vendor (not run here).
        "vendor_scripts": {name: (Path(vendor_dir) / name).read_text()
                           for name in sorted(os.listdir(vendor_dir))}
        if os.path.isdir(vendor_dir) else {},
    }


if __name__ == "__main__":
    result = _drive(json.loads(Path(sys.argv[1]).read_text()))
    print(json.dumps(result, default=lambda o: o.decode(errors="replace")
                     if isinstance(o, bytes) else str(o)))
