"""The Delivery layer under mocks: each host gets its binaries for its own architecture, from
a dist folder (MAMMATUS_DIST), and a daemon's restart digest follows its binary's pin."""

import json

from stacks.artifacts import binaries_of_platform

import pytest

from components.delivery import DIST_ENV, Delivery, MissingBuild
from components.runtime import delivered
from components.object_storage import ObjectStorage
from tests.support.netlab import context, registered, stack_spec
from tools.dist import bundle, debs

ARTIFACT = "pulumi-python:dynamic/mammatus:Artifact"


def dist(tmp_path, platforms=("linux-amd64", "linux-arm64"), minio_sha="a" * 64):
    manifest = {}
    for platform in platforms:
        (tmp_path / platform).mkdir(parents=True, exist_ok=True)
        for name in binaries_of_platform(platform):
            (tmp_path / platform / name).write_bytes(b"")
            sha = minio_sha if name == "minio" else (platform[-2:] + name.encode().hex() * 8)[:64].ljust(64, "0")
            manifest.setdefault(platform, {})[name] = {"sha256": sha}
        pool = debs.debs_dir(tmp_path, platform)           # every pin, as empty stand-ins
        pool.mkdir(parents=True)
        for pin in debs.pins_of(tmp_path, platform):
            (pool / pin.filename).write_bytes(b"")
            (pool / f"{pin.filename}.stanza").write_text(f"Package: {pin.package}\n")
        site = bundle.site_dir(tmp_path, platform)         # an empty environment: source only
        site.mkdir(parents=True)
        (site / ".complete").write_text("")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def build_home(monkeypatch, folder):
    monkeypatch.setenv(DIST_ENV, str(folder))
    ctx = context(stack_spec("home"))
    def build():
        delivery = Delivery("dl", ctx)
        # As components/cloud.py wires it.
        ctx.host_ready, ctx.binaries, ctx.runtimes = (delivery.host_ready, delivery.placed,
                                                      delivery.runtimes)
        return delivery, ObjectStorage("obj", ctx)

    mocks, _ = registered(build)
    return mocks, ctx


def test_each_host_gets_its_binaries_for_its_architecture(monkeypatch, tmp_path):
    mocks, ctx = build_home(monkeypatch, dist(tmp_path))
    minio = mocks.inputs("dl-storage-1-minio")
    assert minio["source"] == str(tmp_path / "linux-arm64" / "minio")
    assert minio["artifact"] == "minio linux-arm64" and minio["sha256"] == "a" * 64
    assert minio["path"] == "/opt/mammatus/bin/minio"
    assert minio["connection"]["host"] == "10.0.0.21"
    step_ca = mocks.inputs("dl-control-step-ca")
    assert step_ca["source"] == str(tmp_path / "linux-amd64" / "step-ca")
    names = {r.name for r in mocks.of_type(ARTIFACT)}
    assert "dl-storage-2-minio" not in names and "dl-gateway-telegraf" in names
    assert delivered(ctx, ctx.access("storage-1"), "minio").sha256 == "a" * 64


def test_a_new_pin_changes_the_daemons_restart_digest(monkeypatch, tmp_path):
    first, _ = build_home(monkeypatch, dist(tmp_path / "one", minio_sha="a" * 64))
    before = first.inputs("obj-minio-run")["create"]
    second, _ = build_home(monkeypatch, dist(tmp_path / "two", minio_sha="b" * 64))
    after = second.inputs("obj-minio-run")["create"]
    assert before != after and "ExecStart=/opt/mammatus/bin/minio server" in after


def test_a_missing_arm64_build_names_the_command_that_makes_it(monkeypatch, tmp_path):
    monkeypatch.setenv(DIST_ENV, str(dist(tmp_path, platforms=("linux-amd64",))))
    ctx = context(stack_spec("home"))
    with pytest.raises(MissingBuild, match=r"host storage-1 needs minio for linux-arm64, which "
                                           r"is not built: run tools/bootstrap --arch arm64"):
        Delivery("dl-missing", ctx)


def test_hosts_running_python_services_get_the_bundle_and_a_venv(monkeypatch, tmp_path):
    mocks, ctx = build_home(monkeypatch, dist(tmp_path))
    copy = mocks.inputs("dl-control-services-bundle")
    assert copy["artifact"] == "mammatus-services linux-amd64"
    assert copy["path"] == "/opt/mammatus/dist/mammatus-services.tar"
    env = mocks.inputs("dl-control-services-environment")
    assert env["artifact"] == "mammatus-services-environment linux-amd64"
    assert env["path"] == "/opt/mammatus/dist/mammatus-services-environment.tar.gz"
    runtime = mocks.inputs("dl-control-services")
    assert runtime["sha256"] == copy["sha256"] and runtime["root"] == "/opt/mammatus/services"
    assert runtime["environment_sha256"] == env["sha256"] != copy["sha256"]
    # home: dnsmasq on the gateway pushes leases to control, so the gateway runs the hook
    names = {r.name for r in mocks.resources}
    assert "dl-gateway-services" in names and "dl-storage-1-services" not in names
    from components.runtime import python_runtime
    rt = python_runtime(ctx, ctx.access("control"))
    assert rt.python == f"/opt/mammatus/services/environments/{env['sha256'][:16]}/venv/bin/python"
    assert rt.pythonpath == f"/opt/mammatus/services/releases/{copy['sha256'][:16]}/src"


def test_real_hosts_install_their_pinned_debian_packages_first(monkeypatch, tmp_path):
    mocks, ctx = build_home(monkeypatch, dist(tmp_path))
    gateway = mocks.inputs("dl-gateway-debian")
    pins = debs.versions(tmp_path, "linux-amd64", ["debian-installer-12-netboot-amd64",
                                                   "debian-installer-12-netboot-arm64", "dnsmasq-base",
                                                   "iptables", "ipxe", "python3-venv", "serf"])
    assert gateway["packages"] == pins and gateway["root"] == "/opt/mammatus/apt"
    # Each host's repository holds what it installs: the installers go to the DNS host alone.
    gateway_repo = mocks.inputs("dl-gateway-debian-repo")
    compute_repo = mocks.inputs("dl-compute-1-debian-repo")
    assert gateway_repo["sha256"] != compute_repo["sha256"]
    assert compute_repo["sha256"] == mocks.inputs("dl-compute-2-debian-repo")["sha256"]
    board = mocks.inputs("dl-storage-1-debian")
    assert set(board["packages"]) == {"serf", "targetcli-fb"}     # it serves a volume
    assert board["packages"]["serf"] == debs.versions(tmp_path, "linux-arm64", ["serf"])["serf"]
    assert mocks.inputs("dl-storage-1-debian-repo")["artifact"] == "debian linux-arm64"
    assert mocks.inputs("dl-control-debian")["mask"] == ["influxdb.service"]   # monitoring there
    # Every later command to a host waits for its packages.
    assert ctx.host_ready["gateway"] and ctx.access("gateway").ready


def test_with_packages_from_the_mirror_no_repository_is_delivered(monkeypatch, tmp_path):
    from stacks.spec import Packages
    monkeypatch.setenv(DIST_ENV, str(dist(tmp_path)))
    spec = stack_spec("home").model_copy(update={"packages": Packages(source="mirror")})
    ctx = context(spec)
    mocks, _ = registered(lambda: Delivery("dl-mirror", ctx))
    assert mocks.inputs("dl-mirror-gateway-debian").get("bundle") in (None, "")
    assert not [r for r in mocks.resources if r.name == "dl-mirror-gateway-debian-repo"]
