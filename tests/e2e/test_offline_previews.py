"""`pulumi preview` of the real-hardware stacks works with no host reachable and shows every
layer of the cloud as a `mammatus:` component."""

import re

import pytest

pytestmark = pytest.mark.e2e

PASSPHRASE = {"PULUMI_CONFIG_PASSPHRASE": "test-only-passphrase"}


PREVIEWS: dict[str, str] = {}


def preview(project, stack: str) -> str:
    """`preview --diff` of a stack, once per module."""
    if stack not in PREVIEWS:
        project.pulumi("stack", "init", stack, env=PASSPHRASE)
        PREVIEWS[stack] = project.pulumi("preview", "--stack", stack, "--diff",
                                         env=PASSPHRASE).stdout
    return PREVIEWS[stack]


def preview_types(project, stack: str) -> dict[str, int]:
    out = preview(project, stack)
    counts: dict[str, int] = {}
    for typ in re.findall(r"^\s*\+ ([\w:/.-]+): \(create\)", out, flags=re.M):
        counts[typ] = counts.get(typ, 0) + 1
    return counts


# One component per row of the seed design.
SEED_LAYERS = {
    "mammatus:network:Gateway", "mammatus:network:Firewall", "mammatus:network:DhcpDnsTftp",
    "mammatus:access:SshAccess", "mammatus:pki:CertificateAuthority",
    "mammatus:monitoring:Monitoring", "mammatus:cnc:Serf", "mammatus:compute:Compute",
    "mammatus:network:Networking", "mammatus:lb:LoadBalancer", "mammatus:storage:BlockStorage",
    "mammatus:storage:ObjectStorage", "mammatus:config:Configuration",
    "mammatus:metadata:Metadata", "mammatus:messaging:Notifications", "mammatus:messaging:Queues",
    "mammatus:functions:Functions", "mammatus:discovery:Consul", "mammatus:secrets:Vault",
    "mammatus:telemetry:InstanceTelemetry",
}


@pytest.mark.parametrize("stack", ["lab", "home"])
def test_preview_shows_the_whole_cloud_offline(project, stack):
    counts = preview_types(project, stack)
    assert counts.get("mammatus:index:Cloud") == 1
    assert counts.get("mammatus:core:Foundation") == 1
    mammatus = {t for t in counts if t.startswith("mammatus:")}
    print(f"{stack}: {sum(counts.values())} resources, {len(mammatus)} mammatus types: "
          f"{sorted(mammatus)}")
    expected = SEED_LAYERS - ({"mammatus:functions:Functions"} if stack == "lab" else set())
    assert expected <= mammatus, f"missing layers: {sorted(expected - mammatus)}"


def test_preview_home_plans_arm64_builds_for_the_storage_boards(project):
    out = preview(project, "home")
    blocks = re.split(r"\n(?=\s*\+ )", out)
    minio = next(b for b in blocks if "mammatus-delivery-storage-1-minio" in b
                 or re.search(r'artifact\s*:\s*"minio linux-arm64"', b))
    assert re.search(r'artifact\s*:\s*"minio linux-arm64"', minio), minio
    assert "/.tools/dist/linux-arm64/minio" in minio
    bundles = re.findall(r'artifact\s*:\s*"mammatus-services (linux-\w+)"', out)
    assert bundles and set(bundles) == {"linux-amd64"}    # the boards run no Python service
    assert not re.search(r'artifact\s*:\s*"minio linux-amd64"', out)


def test_preview_home_installs_pinned_debian_packages_on_every_host(project):
    out = preview(project, "home")
    repos = re.findall(r'artifact\s*:\s*"debian (linux-\w+)"', out)
    assert sorted(repos) == ["linux-amd64"] * 5 + ["linux-arm64"] * 2     # one per host
    assert "pulumi-python:dynamic/mammatus:DebianPackages" in out


@pytest.mark.parametrize("removed, message", [
    ("    ca: gw\n", "mammatus:placement.vault: needs placement.ca"),
    ("    nats: gw\n", "mammatus:placement.sqs: needs placement.nats"),
])
def test_a_service_placed_without_its_prerequisite_fails_preview_naming_the_key(
        project, removed, message):
    file = project.path / "Pulumi.lab.yaml"
    text = file.read_text()
    assert removed in text
    preview(project, "lab")   # the stack exists (and the other tests' preview is taken first)
    file.write_text(text.replace(removed, "", 1))
    try:
        failed = project.pulumi("preview", "--stack", "lab", env=PASSPHRASE, check=False)
        assert failed.returncode != 0
        assert message in failed.stdout + failed.stderr, failed.stdout + failed.stderr
    finally:
        file.write_text(text)
