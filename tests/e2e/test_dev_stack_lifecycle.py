"""`pulumi up`, a second `up` with no changes, and `destroy` of the dev stack with the real CLI,
the project's language host, the provider plugins and Python dynamic providers.

The dev stack's hosts are LXD system containers (systemd, sshd) in the dev box's own LXD; a test
looks inside one with `lxc exec` (`on_host`), the LAN client and the WAN are namespaces
(`in_netns`)."""

import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import paramiko
import pytest

pytestmark = pytest.mark.e2e

# This test's cloud: its namespaces and LAN apart from a user's own `make up` (prefix mm,
# 198.51.100.0/24), which may be deployed on this machine while the test runs.
PREFIX = "mt"
LAN = "203.0.113"
BOX_ENV: dict = {}  # LXD_DIR of the dev box's LXD, once `up` has made it
HOSTS = ("gateway", "control", "storage", "compute")
# The Mammatus units each host runs: Telegraf on every host; InfluxDB, Kapacitor, the alert
# relay, the load balancer and the artifact server on control; MinIO on storage.
UNITS = {"gateway": {"dnsmasq", "serf", "iptables", "telegraf"},
         "storage": {"serf", "telegraf", "minio"},
         "control": {"metadata", "nats", "serf", "sns", "sqs", "step-ca", "telegraf", "influxdb",
                     "kapacitor", "alerts", "traefik", "artifacts", "consul"},
         "compute": {"serf", "telegraf"}}


def netns_list() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()


@pytest.fixture(scope="module")
def dev(project, tmp_path_factory):
    if subprocess.run(["ip", "link", "show", f"{PREFIX}-lan0"], capture_output=True).returncode == 0:
        pytest.fail(f"{PREFIX}-lan0 exists: an earlier run of this test left its cloud behind")
    # Not under /tmp: sshd's StrictModes refuses keys below a world-writable directory.
    run_dir = Path("/var/lib/mammatus-e2e") / uuid.uuid4().hex[:8] / "dev"
    project.isolate_dev_stack(PREFIX, run_dir, LAN)
    project.pulumi("stack", "init", "dev")
    project.run_dir = run_dir
    yield project
    # Whatever a failed test left running.
    project.pulumi("destroy", "--yes", "--stack", "dev", check=False)
    shutil.rmtree(run_dir.parent, ignore_errors=True)


def on_host(host: str, *argv: str, timeout: int = 30) -> subprocess.CompletedProcess:
    """A command as root on one of the stack's hosts (its container in the dev box's LXD)."""
    return subprocess.run(["lxc", "exec", f"{PREFIX}-{host}", "--", *argv], env=BOX_ENV,
                          capture_output=True, text=True, timeout=timeout)


def host_read(host: str, path: str) -> str:
    got = on_host(host, "cat", path)
    assert got.returncode == 0, got.stderr
    return got.stdout


def host_sha256(host: str, path: str) -> str:
    got = on_host(host, "sha256sum", path)
    return got.stdout.split()[0] if got.returncode == 0 else ""


def host_pids(host: str, pattern: str) -> set[str]:
    return set(on_host(host, "pgrep", "-f", pattern).stdout.split())


def ssh(host: str, key_text: str, command: str) -> str:
    import io

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(key_text))
    client.connect(host, username="root", pkey=key, allow_agent=False, look_for_keys=False,
                   timeout=10)
    try:
        _, out, _ = client.exec_command(command, timeout=10)
        return out.read().decode()
    finally:
        client.close()


def test_up_creates_every_kind_of_resource(dev):
    up = dev.pulumi("up", "--yes", "--stack", "dev")
    assert "created" in up.stdout
    types = {r["type"] for r in dev.resources()}
    assert {"tls:index/privateKey:PrivateKey", "random:index/randomPassword:RandomPassword",
            "command:local:Command", "pulumi-python:dynamic/mammatus:LocalDirectory",
            "mammatus:core:Foundation", "mammatus:index:Cloud"} <= types

    out = dev.outputs()
    assert out["run_dir"] == str(dev.run_dir) and dev.run_dir.is_dir()
    assert {f"{PREFIX}-{n}" for n in ("wan", "lan", "client")} <= set(netns_list())
    BOX_ENV.update(os.environ, LXD_DIR=out["box_lxd_dir"])
    listed = subprocess.run(["lxc", "list", "--format", "csv", "-c", "ns"], env=BOX_ENV,
                            capture_output=True, text=True).stdout
    assert {f"{PREFIX}-{h},RUNNING" for h in HOSTS} <= set(listed.split())
    assert out["host_containers"] == {h: f"{PREFIX}-{h}" for h in HOSTS}
    assert out["admin_public_key"].startswith("ssh-ed25519 ")
    assert Path(out["admin_public_key_file"]).read_text() == out["admin_public_key"]
    assert len(out["admin_password"]) == 24 and out["admin_password"].isalnum()


def test_every_host_takes_the_stack_key_and_refuses_passwords(dev):
    out = dev.outputs()
    for name, address in out["hosts"].items():
        seen = ssh(address, out["admin_private_key"], "hostname; hostname -I; cat /proc/1/comm")
        assert seen.split() == [f"{PREFIX}-{name}", *seen.split()[1:-1], "systemd"]
        assert address in seen.split()[1:-1]
        with pytest.raises(paramiko.AuthenticationException):
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(address, username="root", password="root", allow_agent=False,
                               look_for_keys=False, timeout=10)
            finally:
                client.close()


LEASES = "/var/lib/mammatus/dnsmasq/dnsmasq.leases"   # dnsmasq's, on the gateway


def in_netns(host: str, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", f"{PREFIX}-{host}", *argv], input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_lan_reaches_the_upstream_through_nat_and_resolves_names(dev):
    out = dev.outputs()
    page = on_host("control", "curl", "-s", "-m", "5", "http://192.0.2.1/")
    assert page.stdout == "hello from upstream\n"
    gw = out["gateway_lan_ip"]
    assert on_host("control", "dig", "+short", f"@{gw}", f"gateway.{out['domain']}").stdout.strip() == gw
    assert on_host("control", "dig", "+short", f"@{gw}", "upstream.test").stdout.strip() == "192.0.2.1"
    # The upstream sees the gateway's WAN address, not the LAN host's (NAT).
    log = (dev.run_dir / "upstream" / "run" / "web.log").read_text()
    assert "192.0.2.2" in log and f"{LAN}.2" not in log


def test_a_port_the_firewall_blocks_is_blocked_on_the_way_out(dev, tmp_path):
    import sys
    import time

    # A server on the WAN side that answers on 25 as well as 80 ...
    server = subprocess.Popen(["ip", "netns", "exec", f"{PREFIX}-wan", sys.executable, "-m",
                               "http.server", "--bind", "192.0.2.1", "--directory", str(tmp_path), "25"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if in_netns("wan", "curl", "-s", "-o", "/dev/null", "-m", "1", "http://192.0.2.1:25/").returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the test's server on 192.0.2.1:25 did not start")
        # ... is reached from the LAN on 80, and refused on 25 by the gateway's no-smtp-out rule.
        assert in_netns("client", "curl", "-s", "-m", "5", "http://192.0.2.1/").returncode == 0
        blocked = in_netns("client", "curl", "-s", "-m", "5", "http://192.0.2.1:25/")
        assert blocked.returncode == 7      # connection refused: REJECT, as the rule says
        counters = on_host("gateway", "iptables", "-L", "FORWARD", "-v", "-n").stdout
        assert next(line for line in counters.splitlines() if "no-smtp-out" in line).split()[0] != "0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_client_holds_a_lease_and_uses_the_clouds_dns(dev):
    import ipaddress

    out = dev.outputs()
    assert out["client_netns"] == f"{PREFIX}-client"
    address = ipaddress.ip_address(out["client_address"])
    assert ipaddress.ip_address(f"{LAN}.100") <= address <= ipaddress.ip_address(f"{LAN}.199")
    leases = host_read("gateway", LEASES)
    assert f" {address} client " in leases
    # Plain names work: resolv.conf of the namespace comes from the lease.
    assert in_netns("client", "dig", "+short", f"gateway.{out['domain']}").stdout.strip() == out["gateway_lan_ip"]
    assert in_netns("client", "curl", "-s", "-m", "5", "http://upstream.test/").stdout == "hello from upstream\n"


def test_the_metadata_service_on_control_refuses_a_lan_device_that_is_no_instance(dev):
    control = dev.outputs()["hosts"]["control"]
    # The client's lease routes 169.254.169.254 to control (option 121), as an instance's does.
    route = in_netns("client", "ip", "route", "get", "169.254.169.254").stdout
    assert f"via {control}" in route
    got = in_netns("client", "curl", "-s", "-m", "5", "-w", " %{http_code}",
                   "http://169.254.169.254/latest/meta-data/local-hostname")
    assert got.stdout.endswith(" 403") and "no instance owns the MAC" in got.stdout
    # It knows the client's lease only because the gateway's dnsmasq pushed it.
    pushed = host_read("control", "/var/lib/mammatus/metadata/pushed.leases")
    assert f" {dev.outputs()['client_address']} client " in pushed


def delivered_manifest() -> dict:
    import json

    from tests.support.paths import ROOT
    return json.loads((ROOT / ".tools" / "dist" / "manifest.json").read_text())


def sha256_file(path: Path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hosts_run_the_delivered_binaries_and_services(dev):
    out = dev.outputs()
    manifest = delivered_manifest()["linux-amd64"]
    for name in ("step-ca", "nats-server"):
        assert host_sha256("control", f"/opt/mammatus/bin/{name}") == manifest[name]["sha256"]
        assert out["delivered"]["control"][name] == f"linux-amd64 sha256:{manifest[name]['sha256'][:12]}"
    procs = on_host("control", "pgrep", "-af", "/opt/mammatus").stdout
    assert "/opt/mammatus/bin/nats-server -c" in procs
    # Mammatus' services run from the venv made on the host from the delivered environment,
    # with the delivered bundle's source.
    venvs = {line.split()[1] for line in procs.splitlines() if "-m services." in line}
    assert len(venvs) == 1 and all(v.startswith("/opt/mammatus/services/environments/")
                                   and v.endswith("/venv/bin/python") for v in venvs)
    pid = sorted(host_pids("control", "services[.]sqs --listen"))[0]
    environ = on_host("control", "cat", f"/proc/{pid}/environ").stdout.split("\0")
    assert any(e.startswith("PYTHONPATH=/opt/mammatus/services/releases/") and e.endswith("/src")
               for e in environ)
    # The Debian packages came pinned, from the repository the stack delivered (no mirror).
    assert on_host("gateway", "dpkg-query", "-W", "dnsmasq-base").returncode == 0
    assert on_host("compute", "dpkg-query", "-W", "lxd").returncode == 0


def test_every_mammatus_unit_is_active_under_systemd_and_comes_back_after_kill_9(dev):
    import time

    for host, names in UNITS.items():
        listed = on_host(host, "systemctl", "list-units", "--type=service", "--all",
                         "--no-legend", "--plain", "mammatus-*").stdout
        units = {line.split()[0]: line.split()[2] for line in listed.splitlines()}
        assert units == {f"mammatus-{n}.service": "active" for n in names}, (host, listed)
    # Daemons run as their own users, as upstream runs them, and only those read their keys.
    users = {unit: on_host("control", "ps", "-o", "user=", "-p", on_host(
        "control", "systemctl", "show", "-p", "MainPID", "--value", f"mammatus-{unit}").stdout.strip()
    ).stdout.strip() for unit in ("nats", "step-ca", "metadata", "sns", "sqs", "influxdb",
                                  "kapacitor", "alerts", "telegraf")}
    assert users == {"nats": "nats", "step-ca": "step", "metadata": "mammatus-metadata",
                     "sns": "mammatus-sns", "sqs": "mammatus-sqs", "influxdb": "influxdb",
                     "kapacitor": "kapacitor", "alerts": "mammatus-alerts", "telegraf": "telegraf"}
    assert on_host("control", "stat", "-c", "%a %U", "/etc/mammatus/metadata/inventory.yaml",
                   "/etc/mammatus/step-ca/secrets/intermediate_ca_key").stdout.split("\n")[:2] == \
        ["600 mammatus-metadata", "600 step"]
    pid = on_host("control", "systemctl", "show", "-p", "MainPID", "--value", "mammatus-nats").stdout.strip()
    assert pid not in ("", "0")
    assert on_host("control", "kill", "-9", pid).returncode == 0
    deadline, again = time.monotonic() + 30, pid
    while again in (pid, "", "0") and time.monotonic() < deadline:
        time.sleep(0.5)
        again = on_host("control", "systemctl", "show", "-p", "MainPID", "--value",
                        "mammatus-nats").stdout.strip()
    assert again not in (pid, "", "0")
    assert on_host("control", "systemctl", "is-active", "mammatus-nats").stdout.strip() == "active"


def test_rebooted_hosts_have_their_daemons_firewall_and_nat_back_without_up(dev):
    import time

    assert subprocess.run(["lxc", "restart", f"{PREFIX}-gateway"], env=BOX_ENV,
                          capture_output=True, timeout=180).returncode == 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if in_netns("client", "curl", "-s", "-m", "3", "http://upstream.test/").stdout == "hello from upstream\n":
            break
        time.sleep(1)
    # DNS (dnsmasq) and NAT (the boot unit's rules, forwarding from sysctl.d) work again ...
    assert in_netns("client", "curl", "-s", "-m", "5", "http://upstream.test/").stdout == "hello from upstream\n"
    assert on_host("gateway", "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert "no-smtp-out" in on_host("gateway", "iptables", "-S", "FORWARD").stdout
    assert on_host("gateway", "systemctl", "is-active", "mammatus-dnsmasq").stdout.strip() == "active"
    # Control too: its daemons (their own users, their state) are all back by themselves.
    assert subprocess.run(["lxc", "restart", f"{PREFIX}-control"], env=BOX_ENV,
                          capture_output=True, timeout=180).returncode == 0
    deadline, listed = time.monotonic() + 120, ""
    while time.monotonic() < deadline:
        listed = on_host("control", "systemctl", "list-units", "--type=service", "--no-legend",
                         "--plain", "--state=active", "mammatus-*").stdout
        if len(listed.splitlines()) == len(UNITS["control"]):
            break
        time.sleep(1)
    assert len(listed.splitlines()) == len(UNITS["control"]), listed
    # "active" is the process started; the service answers once it has bound its port.
    deadline = time.monotonic() + 30
    while True:
        got = in_netns("client", "curl", "-s", "-m", "5", "-w", " %{http_code}",
                       "http://169.254.169.254/latest/meta-data/local-hostname")
        if got.stdout.endswith(" 403") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got.stdout.endswith(" 403"), got     # the metadata service answers again
    # ... and the stack sees nothing to do.
    dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")


def test_client_fetches_the_pxe_boot_file_and_cannot_upload(dev, tmp_path):
    gw = dev.outputs()["gateway_lan_ip"]
    got = in_netns("client", "busybox", "tftp", "-g", "-r", "undionly.kpxe",
                   "-l", str(tmp_path / "boot"), gw)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "boot").read_bytes() == Path("/usr/lib/ipxe/undionly.kpxe").read_bytes()
    (tmp_path / "evil").write_text("x")
    put = in_netns("client", "busybox", "tftp", "-p", "-l", str(tmp_path / "evil"), "-r", "evil", gw)
    assert put.returncode != 0


def test_the_wan_cannot_reach_into_the_lan_or_the_gateway(dev):
    into_lan = in_netns("wan", "curl", "-s", "-m", "3", f"http://{LAN}.2/")
    assert into_lan.returncode != 0
    # Default-deny inbound on the WAN: the gateway's own ports are silently dropped.
    ssh_on_gateway = in_netns("wan", "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/192.0.2.2/22")
    assert ssh_on_gateway.returncode == 124  # timed out: dropped, not even refused


def test_serf_sees_every_host_alive_and_each_answers_a_query(dev):
    hosts = set(dev.outputs()["hosts"])
    members = on_host("control", "serf", "members").stdout
    alive = {line.split()[0] for line in members.splitlines() if " alive " in line}
    assert alive == hosts
    query = on_host("control", "serf", "query", "-timeout", "5s", "uptime").stdout
    assert {h for h in hosts if f"Response from '{h}'" in query} == hosts


def test_sns_fans_out_to_sqs_for_a_client_on_the_lan(dev):
    import json
    import sys

    script = Path(__file__).parent / "scripts" / "sns_to_sqs.py"
    out = json.dumps(dev.outputs())
    got = in_netns("client", sys.executable, str(script), out)
    assert got.returncode == 0, got.stderr
    assert "hello from the client" in got.stdout
    assert "signature verified up to the cloud CA's root" in got.stdout


def influx_query(dev, q: str) -> list[dict]:
    """InfluxQL as the read-only `kapacitor` user Mammatus made, over HTTPS verified with the
    cloud's root (its password from the stack's state, as an operator would take it)."""
    import json
    import ssl
    import urllib.parse
    import urllib.request

    setup = next(r for r in dev.resources(secrets=True)
                 if r["urn"].endswith("::dev-monitoring-influx-setup"))["outputs"]
    password = setup["passwords"]["kapacitor"]
    request = urllib.request.Request(f"{setup['url']}/query",
                                     data=urllib.parse.urlencode({"q": q}).encode())
    request.add_header("Authorization", "Basic " + __import__("base64").b64encode(
        f"kapacitor:{password}".encode()).decode())
    context = ssl.create_default_context(cadata=dev.outputs()["ca_root_pem"])
    with urllib.request.urlopen(request, context=context, timeout=10) as resp:
        return json.load(resp)["results"][0].get("series", [])


def test_influxdb_holds_recent_points_from_every_host(dev):
    import time

    deadline = time.monotonic() + 60
    while True:
        series = influx_query(dev, 'SELECT last("uptime") FROM "telegraf"."mammatus"."system" '
                                   "WHERE time > now() - 1m GROUP BY \"host\"")
        hosts = {s["tags"]["host"] for s in series}
        if hosts >= set(HOSTS) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert hosts >= set(HOSTS)
    units = influx_query(dev, 'SELECT last("active_code") FROM "telegraf"."mammatus"."systemd_units" '
                              "WHERE time > now() - 1m GROUP BY \"host\", \"name\"")
    assert {(s["tags"]["host"], s["tags"]["name"]) for s in units} >= {
        ("control", "mammatus-influxdb.service"), ("gateway", "mammatus-dnsmasq.service")}
    assert influx_query(dev, 'SELECT last("ip_conntrack_count") FROM "telegraf"."mammatus"."conntrack" '
                             "WHERE \"host\" = 'gateway'")


def sqs_client(dev, root_file: Path):
    import boto3

    out = dev.outputs()
    root_file.write_text(out["ca_root_pem"])
    creds = out["sqs_credentials"]
    return boto3.client("sqs", endpoint_url=out["sqs_endpoint"], region_name="us-east-1",
                        aws_access_key_id=creds["access_key"], verify=str(root_file),
                        aws_secret_access_key=creds["secret_key"])


def wait_for_alert(sqs, queue_url: str, alert_id: str, level: str, seconds: int) -> dict:
    import json
    import time

    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5,
                                     MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            alert = json.loads(m["Body"])
            seen.append((alert.get("id"), alert.get("level")))
            if alert.get("id") == alert_id and alert.get("level") == level:
                return alert
    raise AssertionError(f"no {level} alert {alert_id} within {seconds} s; saw {seen}")


def test_a_stopped_daemon_raises_an_alert_in_sqs_and_its_recovery_follows(dev, tmp_path):
    import time

    sqs = sqs_client(dev, tmp_path / "root.pem")
    queue = sqs.get_queue_url(QueueName="ops-alerts")["QueueUrl"]
    alert_id = "service_down:storage/mammatus-serf.service"
    assert on_host("storage", "systemctl", "stop", "mammatus-serf").returncode == 0
    stopped = time.monotonic()
    try:
        alert = wait_for_alert(sqs, queue, alert_id, "CRITICAL", 120)
        assert alert["tags"] == {"host": "storage", "name": "mammatus-serf.service"}
        print(f"alert after {time.monotonic() - stopped:.0f} s")
    finally:
        assert on_host("storage", "systemctl", "start", "mammatus-serf").returncode == 0
    started = time.monotonic()
    recovery = wait_for_alert(sqs, queue, alert_id, "OK", 120)
    assert recovery["previousLevel"] == "CRITICAL"
    print(f"recovery after {time.monotonic() - started:.0f} s")


def test_the_ca_answers_over_tls_that_its_root_verifies(dev, tmp_path):
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    out = dev.outputs()
    root = x509.load_pem_x509_certificate(out["ca_root_pem"].encode())
    assert hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest() == out["ca_root_fingerprint"]
    (tmp_path / "root.pem").write_text(out["ca_root_pem"])
    health = in_netns("client", "curl", "-s", "-m", "5", "--cacert", str(tmp_path / "root.pem"),
                      f"{out['ca_url']}/health")
    assert health.stdout.strip() == '{"status":"ok"}', health.stderr


def instance_ssh(key_file: Path, fqdn: str, command: str,
                 stdin: str | None = None) -> subprocess.CompletedProcess:
    """SSH from the LAN client to an instance's default user (Debian's `debian`), with the
    stack's key, which the metadata service handed to cloud-init."""
    return in_netns("client", "ssh", "-i", str(key_file), "-o", "BatchMode=yes",
                    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "ConnectTimeout=5", f"debian@{fqdn}", command, stdin=stdin)


def test_an_instance_on_macvlan_holds_a_lease_answers_and_ran_its_user_data(dev, tmp_path):
    import ipaddress
    import time

    out = dev.outputs()
    web = out["instances"]["web-1"]
    assert web["status"] == "Running" and len(web["ipv4"]) == 1
    address = web["ipv4"][0]
    assert ipaddress.ip_address(f"{LAN}.100") <= ipaddress.ip_address(address) \
        <= ipaddress.ip_address(f"{LAN}.199")
    # Its lease is dnsmasq's, under the name the cloud gave it, and the LAN resolves that name.
    leases = host_read("gateway", LEASES)
    assert f" {web['mac']} {address} web-1 " in leases
    fqdn = f"web-1.{out['domain']}"
    assert in_netns("client", "dig", "+short", fqdn).stdout.strip() == address
    # It answers on the LAN: SSH with the stack's key, and cloud-init ran the spec's user-data
    # with data from the metadata service (NoCloud seeded from 169.254.169.254).
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    deadline = time.monotonic() + 180
    while True:
        done = instance_ssh(key, fqdn, "cloud-init status --wait --long >/dev/null; "
                                       "cloud-init status --long; cat /var/lib/mammatus/hello.txt")
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert done.returncode == 0, done.stderr
    assert "status: done" in done.stdout
    assert "DataSourceNoCloudNet" in done.stdout and "169.254.169.254" in done.stdout
    assert done.stdout.rstrip().endswith("hello from the dev stack")
    assert instance_ssh(key, fqdn, "hostname -f").stdout.strip() == fqdn
    # The metadata service it used is on control, reached by the route its lease gave it.
    control = out["hosts"]["control"]
    assert f"via {control}" in instance_ssh(key, fqdn, "ip route get 169.254.169.254").stdout
    assert instance_ssh(key, fqdn, "cloud-init query v1.local_hostname").stdout.strip() == "web-1"
    # From inside, the cloud's DNS and the gateway's NAT work as for any LAN machine.
    fetch = "python3 -c \"import urllib.request as u; print(u.urlopen('http://upstream.test/').read().decode())\""
    assert instance_ssh(key, fqdn, fetch).stdout == "hello from upstream\n\n"
    # A password is refused there too.
    refused = in_netns("client", "ssh", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no",
                       "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                       f"debian@{fqdn}", "true")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr


def test_consul_refuses_the_anonymous_lan_and_answers_its_management_token(dev, tmp_path):
    """The Consul server on control: HTTPS only, with the CA's certificate, on its LAN address;
    default-deny ACLs refuse an anonymous KV read from the LAN client; the management token
    (a secret output) lists the server as an alive member."""
    import json

    out = dev.outputs()
    url = out["consul_url"]
    assert url == f"https://{out['hosts']['control']}:8501"
    root = tmp_path / "root.pem"
    root.write_text(out["ca_root_pem"])

    def call(path, token=None):
        header = ["-H", f"X-Consul-Token: {token}"] if token else []
        got = in_netns("client", "curl", "-sS", "-m", "5", "-w", "\n%{http_code}", "--cacert",
                       str(root), *header, f"{url}{path}")
        return got.stdout.rsplit("\n", 1)
    body, status = call("/v1/kv/anything")
    assert status == "403" and "Permission denied" in body, (status, body)
    body, status = call("/v1/agent/members", out["consul_management_token"])
    assert status == "200", body
    members = {m["Name"]: m["Status"] for m in json.loads(body)}
    assert members.get("control") == 1, members                                   # 1: alive
    plain = in_netns("client", "curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                     f"http://{out['hosts']['control']}:8500/v1/status/leader")
    assert plain.stdout == "000"         # no plain-HTTP API


def test_the_instance_joins_consul_by_itself_and_its_service_resolves_on_the_lan(dev, tmp_path):
    """web-1's agent (Consul from the artifact server, its gossip key and token from the
    metadata service into a 0600 file) joins control's server by itself; the `web` service its
    user-data declares resolves through Consul DNS from the LAN client (the gateway forwards
    `consul.` to the servers), with no token; the token it holds registers nothing else and its
    secrets are nowhere in the vendor-data; an agent without the gossip key is rejected."""
    import json
    import time

    out = dev.outputs()
    root = tmp_path / "root.pem"
    root.write_text(out["ca_root_pem"])
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    instance = f"web-1.{out['domain']}"
    web_address = out["instances"]["web-1"]["ipv4"][0]
    instance_ssh(key, instance, "cloud-init status --wait >/dev/null")

    def members() -> dict:
        got = in_netns("client", "curl", "-sS", "-m", "5", "--cacert", str(root), "-H",
                       f"X-Consul-Token: {out['consul_management_token']}",
                       f"{out['consul_url']}/v1/agent/members")
        return {m["Name"]: (m["Addr"], m["Status"]) for m in json.loads(got.stdout or "[]")}
    deadline = time.monotonic() + 120
    while members().get("web-1") != (web_address, 1) and time.monotonic() < deadline:
        time.sleep(2)
    assert members().get("web-1") == (web_address, 1), members()
    state = instance_ssh(key, instance, "systemctl is-active consul; "
                         "sudo stat -c '%a %U' /etc/mammatus/consul/secrets.json; "
                         "sha256sum /usr/local/bin/consul | cut -d' ' -f1")
    sha = delivered_manifest()["linux-amd64"]["consul"]["sha256"]
    assert state.stdout.split() == ["active", "600", "root", sha], state.stdout + state.stderr
    # Consul DNS through the cloud's DNS, as any LAN machine asks it.
    deadline = time.monotonic() + 60
    while True:
        answer = in_netns("client", "dig", "+short", "web.service.consul").stdout.split()
        if answer == [web_address] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert answer == [web_address]
    assert instance_ssh(key, instance, "getent hosts web.service.consul").stdout.split()[:1] == \
        [web_address]
    # The instance's secrets never travel in vendor-data (readable by every process there).
    secrets = json.loads(instance_ssh(key, instance,
                                      "sudo cat /etc/mammatus/consul/secrets.json").stdout)
    vendor = instance_ssh(key, instance, "sudo cat /var/lib/cloud/instance/vendor-data.txt").stdout
    assert vendor and secrets["encrypt"] not in vendor and secrets["acl"]["tokens"]["agent"] not in vendor
    # Its token may register `web` only: another service through its local agent is refused.
    register = ("python3 -c \"import urllib.request as u, urllib.error as e\n"
                "try: u.urlopen(u.Request('http://127.0.0.1:8500/v1/agent/service/register', "
                "data=b'{\\\"Name\\\": \\\"db\\\"}', method='PUT')); print(200)\n"
                "except e.HTTPError as err: print(err.code)\"")
    refused = instance_ssh(key, instance, register)
    assert refused.stdout.strip() == "403", refused.stdout + refused.stderr
    # An agent without the gossip key, on the LAN client, cannot join.
    assert_keyless_agent_is_rejected(out, tmp_path)


def assert_keyless_agent_is_rejected(out: dict, tmp_path: Path) -> None:
    import json

    from tests.support.daemons import free_port
    from tests.support.paths import built_tool

    config = tmp_path / "keyless.json"
    http = free_port()
    config.write_text(json.dumps({
        "node_name": "intruder", "datacenter": out["domain"].split(".")[0], "server": False,
        "data_dir": str(tmp_path / "keyless-data"), "bind_addr": out["client_address"],
        "client_addr": "127.0.0.1", "disable_update_check": True,
        "ports": {"http": http, "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1,
                  "serf_wan": -1}}))
    binary = built_tool("consul")
    agent = subprocess.Popen(["ip", "netns", "exec", f"{PREFIX}-client", binary, "agent",
                              f"-config-file={config}"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        joined = None
        for _ in range(30):
            joined = in_netns("client", binary, "join", f"-http-addr=127.0.0.1:{http}",
                              out["hosts"]["control"])
            if "connection refused" not in joined.stdout + joined.stderr:
                break
            import time
            time.sleep(1)
        assert joined.returncode != 0, joined.stdout
    finally:
        agent.terminate()
        agent.wait(timeout=30)


def test_the_load_balancer_serves_the_instance_over_tls_and_follows_its_health(dev, tmp_path):
    """The spec's route `web`: https://web.<domain>/ from the LAN client reaches web-1's web
    server through traefik on control, with a certificate the cloud's CA issued by ACME;
    stopping that server takes the route's only backend out (503), starting it brings it back."""
    import time

    out = dev.outputs()
    route = out["routes"]["web"]
    url = f"https://web.{out['domain']}/"
    assert (route["url"], route["tls"]) == (url, True)
    assert route["backends"] == [f"http://web-1.{out['domain']}:80"]
    assert in_netns("client", "dig", "+short", f"web.{out['domain']}").stdout.strip() == \
        out["hosts"]["control"]
    root = tmp_path / "root.pem"
    root.write_text(out["ca_root_pem"])

    def fetch(path=""):
        return in_netns("client", "curl", "-sS", "-m", "5", "-w", "\n%{http_code}", "--cacert",
                        str(root), f"{url}{path}")

    def wait_status(status: str, seconds: int, path="hello.txt") -> tuple[str, float]:
        started, got = time.monotonic(), None
        while time.monotonic() - started < seconds:
            got = fetch(path)
            if got.returncode == 0 and got.stdout.endswith(f"\n{status}"):
                return got.stdout, time.monotonic() - started
            time.sleep(1)
        raise AssertionError(f"{url}{path} never answered {status}: {got.stdout!r} {got.stderr!r}")

    # The certificate is verified by curl against the cloud's root alone.
    body, waited = wait_status("200", 180)
    assert body == "hello from the dev stack\n\n200"
    print(f"route answered over TLS after {waited:.0f} s")
    issuer = in_netns("client", "sh", "-c", f"openssl s_client -connect web.{out['domain']}:443 "
                      f"-servername web.{out['domain']} </dev/null 2>/dev/null | "
                      "openssl x509 -noout -issuer").stdout
    assert "Intermediate" in issuer, issuer
    # Plain HTTP is sent to HTTPS.
    plain = in_netns("client", "curl", "-s", "-m", "5", "-o", "/dev/null", "-w",
                     "%{http_code} %{redirect_url}", f"http://web.{out['domain']}/x")
    assert plain.stdout == f"301 {url}x"
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    instance = f"web-1.{out['domain']}"
    assert instance_ssh(key, instance, "sudo systemctl stop hello-web").returncode == 0
    try:
        _, waited = wait_status("503", 30)
        print(f"backend out after {waited:.0f} s")
    finally:
        assert instance_ssh(key, instance, "sudo systemctl start hello-web").returncode == 0
    _, waited = wait_status("200", 30)
    print(f"backend back after {waited:.0f} s")


# Run in the instance by its own python3 and boto3 (Debian's, in the image); the credentials
# come on stdin, never on a command line. Prints one outcome per line.
S3_IN_INSTANCE = """
import json, sys
import boto3
from botocore.exceptions import ClientError
given = json.loads(sys.stdin.read())
s3 = boto3.client("s3", endpoint_url=given["endpoint"], region_name="us-east-1",
                  aws_access_key_id=given["access_key"], aws_secret_access_key=given["secret_key"])
for bucket in ("assets", "backups"):
    try:
        s3.put_object(Bucket=bucket, Key="from-web-1.txt", Body=b"written by web-1")
        print(bucket, "put", "ok")
    except ClientError as exc:
        print(bucket, "put", exc.response["Error"]["Code"])
print("backups", "get", s3.get_object(Bucket="backups", Key="report.txt")["Body"].read().decode())
"""


def test_an_instance_uses_object_storage_with_its_users_grants(dev, tmp_path):
    """MinIO on storage over HTTPS (the CA's certificate, which the instance trusts through its
    vendor-data): web-1 with the `web` user's keys writes the public-read bucket and is refused
    on the one it may only read; anonymous reads work on the public bucket only."""
    import json

    import boto3

    out = dev.outputs()
    endpoint, creds = out["object_storage_endpoint"], out["object_storage_credentials"]
    assert endpoint == f"https://{out['hosts']['storage']}:9000"
    assert set(creds) == {"web", "backup"}
    root = tmp_path / "root.pem"
    root.write_text(out["ca_root_pem"])
    # The backup user (from here, as the admin would) leaves a report web may read.
    backup = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", verify=str(root),
                          aws_access_key_id=creds["backup"]["access_key"],
                          aws_secret_access_key=creds["backup"]["secret_key"])
    backup.put_object(Bucket="backups", Key="report.txt", Body=b"nightly report")
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    ran = instance_ssh(key, f"web-1.{out['domain']}", "python3 -c " + shlex.quote(S3_IN_INSTANCE),
                       stdin=json.dumps({"endpoint": endpoint, **creds["web"]}))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["assets put ok", "backups put AccessDenied",
                                       "backups get nightly report"]

    def anonymous(path):
        got = in_netns("client", "curl", "-s", "-m", "5", "-w", "\n%{http_code}", "--cacert",
                       str(root), f"{endpoint}{path}")
        return got.stdout.rsplit("\n", 1)
    assert anonymous("/assets/from-web-1.txt") == ["written by web-1", "200"]
    body, status = anonymous("/backups/report.txt")
    assert status == "403" and "<Code>AccessDenied</Code>" in body


def test_the_artifact_server_gives_instances_the_pinned_telegraf_by_name(dev, tmp_path):
    """artifacts.<domain> on control serves the Telegraf (and Consul) builds this checkout
    pinned, byte for byte: the instance fetches Telegraf by name (no internet) and its sha256 is
    the manifest's."""
    out = dev.outputs()
    url = out["artifacts_url"]
    assert url == f"http://artifacts.{out['domain']}:8070"
    manifest = delivered_manifest()["linux-amd64"]
    sha = manifest["telegraf"]["sha256"]
    sums = in_netns("client", "curl", "-sf", "-m", "5", f"{url}/linux-amd64/SHA256SUMS")
    # Telegraf and the Consul agent, the two agents instances install.
    assert sums.stdout == f"{manifest['consul']['sha256']}  consul\n{sha}  telegraf\n", sums.stderr
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    fetch = ("python3 -c \"import hashlib, urllib.request as u; print(hashlib.sha256(u.urlopen("
             f"'{url}/linux-amd64/telegraf').read()).hexdigest())\"")
    got = instance_ssh(key, f"web-1.{out['domain']}", fetch)
    assert got.stdout.strip() == sha, got.stderr
    # Read-only: nothing can be put there.
    put = in_netns("client", "curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                   "-X", "PUT", "--data", "x", f"{url}/linux-amd64/telegraf")
    assert put.stdout == "405"


def test_the_instance_reports_to_influxdb_as_its_own_user(dev, tmp_path):
    """Vendor-data installed the artifact server's Telegraf on web-1 (its digest checked there)
    and it writes with the instance's own InfluxDB user, fetched from the metadata service into
    a 0600 file; its points carry host=web-1."""
    import time

    out = dev.outputs()
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    instance = f"web-1.{out['domain']}"
    # Its agents are installed by vendor-data, within cloud-init's run.
    instance_ssh(key, instance, "cloud-init status --wait >/dev/null")
    state = instance_ssh(key, instance, "systemctl is-active telegraf; "
                         "sudo stat -c '%a %U' /etc/telegraf/mammatus.env; "
                         "sha256sum /usr/local/bin/telegraf | cut -d' ' -f1")
    sha = delivered_manifest()["linux-amd64"]["telegraf"]["sha256"]
    assert state.stdout.split() == ["active", "600", "root", sha], state.stdout + state.stderr
    deadline = time.monotonic() + 90
    while True:
        series = influx_query(dev, 'SELECT last("usage_idle") FROM "telegraf"."mammatus"."cpu" '
                                   "WHERE time > now() - 1m AND \"host\" = 'web-1'")
        if series or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert series, "no recent points from web-1"
    # Its password is its own: the vendor-data every process there can read has none.
    vendor = instance_ssh(key, instance, "sudo cat /var/lib/cloud/instance/vendor-data.txt")
    assert vendor.returncode == 0 and "INFLUX_PASSWORD=" not in vendor.stdout
    users = {r["urn"].rsplit("::", 1)[1]: r for r in dev.resources(secrets=True)}
    assert "instance-web-1" in users["dev-monitoring-influx-setup"]["outputs"]["passwords"]


def test_the_instance_identity_document_verifies_with_the_published_certificate(dev, tmp_path):
    """As AWS documents it: the instance fetches its document and its rsa2048/pkcs7 signatures
    (IMDSv2), and `openssl smime -verify` with the stack output instance_identity_certificate
    accepts them; a tampered document is refused."""
    import json

    out = dev.outputs()
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    fetch = ("T=$(python3 -c \"import urllib.request as u; print(u.urlopen(u.Request("
             "'http://169.254.169.254/latest/api/token', method='PUT', headers={"
             "'X-aws-ec2-metadata-token-ttl-seconds': '60'})).read().decode())\"); "
             "for p in document rsa2048 pkcs7; do python3 -c \"import sys, urllib.request as u; "
             "sys.stdout.write(u.urlopen(u.Request('http://169.254.169.254/latest/dynamic/"
             "instance-identity/' + sys.argv[1], headers={'X-aws-ec2-metadata-token': "
             "sys.argv[2]})).read().decode())\" $p $T; echo; echo ==; done")
    got = instance_ssh(key, f"web-1.{out['domain']}", fetch)
    document, rsa2048, pkcs7, _ = got.stdout.split("\n==\n")
    document = document.removesuffix("\n")
    fields = json.loads(document)
    assert fields["instanceId"].startswith("i-") and \
        fields["privateIp"] == out["instances"]["web-1"]["ipv4"][0], got.stdout + got.stderr
    (tmp_path / "certificate").write_text(out["instance_identity_certificate"])
    (tmp_path / "document").write_text(document)
    for name, body in (("rsa2048", rsa2048), ("pkcs7", pkcs7)):
        (tmp_path / name).write_text(f"-----BEGIN PKCS7-----\n{body.strip()}\n-----END PKCS7-----\n")

    def smime(*extra):
        return subprocess.run(["openssl", "smime", "-verify", "-inform", "PEM", "-certfile",
                               str(tmp_path / "certificate"), "-noverify", *extra],
                              capture_output=True, text=True, timeout=30)
    ok = smime("-in", str(tmp_path / "rsa2048"), "-content", str(tmp_path / "document"))
    assert ok.returncode == 0 and "Verification successful" in ok.stderr, ok.stderr
    carried = smime("-in", str(tmp_path / "pkcs7"))
    assert carried.returncode == 0 and carried.stdout == document, carried.stderr
    (tmp_path / "document").write_text(document.replace('"x86_64"', '"arm64"'))
    assert smime("-in", str(tmp_path / "rsa2048"), "-content", str(tmp_path / "document")).returncode != 0


def test_a_lan_device_taking_an_instances_address_is_refused_its_data(dev, tmp_path):
    """ARP spoofing against the deployed cloud: the LAN client takes the instance's address and
    announces it from its own MAC; control's kernel believes it, the metadata service does not."""
    import json

    from tests.support.netlab import gratuitous_arp

    out = dev.outputs()
    web = out["instances"]["web-1"]["ipv4"][0]
    own_mac = json.loads(in_netns("client", "ip", "-j", "link", "show", "eth0").stdout)[0]["address"]
    assert in_netns("client", "ip", "addr", "add", f"{web}/32", "dev", "eth0").returncode == 0
    try:
        gratuitous_arp(f"{PREFIX}-client", "eth0", web, own_mac)
        for path in ("/latest/user-data", "/nocloud/user-data"):
            got = in_netns("client", "curl", "-s", "-m", "5", "-w", " %{http_code}",
                           "--interface", web, f"http://169.254.169.254{path}")
            assert got.stdout.endswith(" 403") and "other than the leased" in got.stdout, \
                (path, got.stdout, got.stderr)
    finally:
        in_netns("client", "ip", "addr", "del", f"{web}/32", "dev", "eth0")
        on_host("control", "ip", "neigh", "flush", "to", web)
    # The instance itself is still served (its next packet teaches control its MAC again).
    key = tmp_path / "admin_key"
    key.write_text(out["admin_private_key"])
    key.chmod(0o600)
    fetch = ("python3 -c \"import urllib.request as u; "
             "print(u.urlopen('http://169.254.169.254/latest/meta-data/local-hostname').read().decode())\"")
    assert instance_ssh(key, f"web-1.{out['domain']}", fetch).stdout.strip().startswith("web-1")


def test_secrets_are_encrypted_in_the_state(dev):
    out = dev.outputs()
    setup = next(r for r in dev.resources(secrets=True)
                 if r["urn"].endswith("::dev-monitoring-influx-setup"))["outputs"]
    # The admin's, an instance's own InfluxDB password (also in the metadata inventory), a
    # MinIO user's secret key: none in the clear.
    secrets = [out["admin_password"], setup["passwords"]["instance-web-1"],
               out["object_storage_credentials"]["web"]["secret_key"]]
    state = dev.pulumi("stack", "export", "--stack", "dev").stdout
    assert not [s for s in secrets if s in state]
    assert "ciphertext" in state


def test_second_up_changes_nothing(dev):
    again = dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")
    assert "unchanged" in again.stdout


def test_a_hand_edit_is_found_by_refresh_and_repaired_by_up(dev):
    conf = "/etc/mammatus/dnsmasq/dnsmasq.conf"
    original = host_read("gateway", conf)
    # Someone edits it by hand.
    on_host("gateway", "sh", "-c", f"echo server=/evil.test/192.0.2.66 >> {conf}")
    preview = dev.pulumi("preview", "--refresh", "--diff", "--stack", "dev")
    assert "evil.test" in preview.stdout and "RemoteFile" in preview.stdout
    dev.pulumi("up", "--yes", "--refresh", "--stack", "dev")
    assert host_read("gateway", conf) == original
    dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")


def test_a_deleted_binary_is_found_by_refresh_and_restored_by_up(dev):
    binary = "/opt/mammatus/bin/step-ca"
    want = host_sha256("control", binary)
    assert on_host("control", "rm", binary).returncode == 0
    preview = dev.pulumi("preview", "--refresh", "--stack", "dev")
    assert "Artifact" in preview.stdout and "create" in preview.stdout
    dev.pulumi("up", "--yes", "--refresh", "--stack", "dev")
    assert host_sha256("control", binary) == want
    assert on_host("control", "test", "-x", binary).returncode == 0
    dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")


def test_a_new_pin_redelivers_one_binary_and_restarts_only_its_daemon(dev, tmp_path):
    import json

    from tests.support.paths import ROOT
    from tools.dist import manifest

    # Another build of nats-server's pin: the same binary with bytes appended (still runs).
    dist = tmp_path / "dist"
    (dist / "linux-amd64").mkdir(parents=True)
    source = ROOT / ".tools" / "dist"
    for entry in (source / "linux-amd64").iterdir():
        (dist / "linux-amd64" / entry.name).symlink_to(entry)
    # Everything else as it is (wheels, the services' site, the Debian packages and bundles).
    for shared in source.iterdir():
        if shared.name not in ("linux-amd64", "manifest.json"):
            (dist / shared.name).symlink_to(shared)
    nats = dist / "linux-amd64" / "nats-server"
    nats.unlink()
    nats.write_bytes((source / "linux-amd64" / "nats-server").read_bytes() + b"\0another build")
    nats.chmod(0o755)
    manifest.write(dist)

    def pids(pattern):
        return host_pids("control", pattern)
    nats_pattern = "/opt/mammatus/bin/nats-server -c"
    sqs_pattern = "services[.]sqs --listen"
    nats_before, sqs_before = pids(nats_pattern), pids(sqs_pattern)
    assert nats_before and sqs_before
    env = {"MAMMATUS_DIST": str(dist)}
    plan = json.loads(dev.pulumi("preview", "--json", "--stack", "dev", env=env).stdout)
    changed = sorted(s["urn"].rsplit("::", 1)[1] for s in plan["steps"] if s["op"] != "same")
    assert changed == ["dev-delivery-control-nats-server", "dev-nats-nats-server-run"], changed
    dev.pulumi("up", "--yes", "--stack", "dev", env=env)
    assert host_sha256("control", "/opt/mammatus/bin/nats-server") == sha256_file(nats)
    assert pids(nats_pattern) and pids(nats_pattern).isdisjoint(nats_before)   # restarted
    assert pids(sqs_pattern) == sqs_before                                     # left alone
    dev.pulumi("up", "--yes", "--stack", "dev")                                  # back to the pin
    dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")


def test_a_host_refusing_ssh_half_way_leaves_a_state_the_next_up_completes(dev):
    # Serf's agent on the storage host goes (as if never created), and the host's sshd stops.
    urns = [r["urn"] for r in dev.resources()
            if r["type"] == "command:remote:Command" and "serf" in r["urn"] and "storage" in r["urn"]]
    assert urns
    dev.pulumi("destroy", "--yes", "--stack", "dev", *(f"--target={u}" for u in urns),
               "--target-dependents")
    assert on_host("storage", "systemctl", "stop", "ssh.service").returncode == 0
    try:
        failed = dev.pulumi("up", "--yes", "--stack", "dev", check=False)
        assert failed.returncode != 0
        said = failed.stdout + failed.stderr
        assert "dev-serf-storage" in said and f"Unable to connect to port 22 on {LAN}.3" in said
    finally:
        on_host("storage", "systemctl", "start", "ssh.service")
    done = dev.pulumi("up", "--yes", "--stack", "dev")
    assert "created" in done.stdout
    dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")
    members = on_host("control", "serf", "members").stdout
    assert any(line.split()[0] == "storage" and " alive " in line for line in members.splitlines())


def test_this_machine_rebooting_is_mended_by_up_alone(dev, tmp_path):
    """Nothing restarts the dev box after a reboot of this machine (its hardware is namespaces
    and the box's LXD): `up`, with no refresh, finds what is gone and brings the cloud back."""
    import re
    import time

    from tests.support.power_cycle import power_off

    web = dev.outputs()["instances"]["web-1"]
    power_off(PREFIX, dev.run_dir, BOX_ENV["LXD_DIR"])
    assert not [ns for ns in netns_list() if ns.startswith(f"{PREFIX}-")]
    revived = dev.pulumi("up", "--yes", "--stack", "dev")
    # Updates bring the box back; no resource is made anew (the summary has no "+ N created";
    # the client's lease, read again, is the one replacement).
    assert re.search(r"^\s+~ \d+ updated$", revived.stdout, re.M), revived.stdout
    assert not re.search(r"^\s+\+ \d+ created$", revived.stdout, re.M), revived.stdout
    # The cloud works again: NAT and DNS for the client, the metadata service, the instance.
    assert in_netns("client", "curl", "-s", "-m", "5", "http://upstream.test/").stdout == "hello from upstream\n"
    assert f"-o {PREFIX}-lan0 -j DROP" in subprocess.run(["iptables", "-S", "FORWARD"],
                                                          capture_output=True, text=True).stdout
    deadline = time.monotonic() + 120
    while True:
        got = in_netns("client", "curl", "-s", "-m", "5", "-w", " %{http_code}",
                       "http://169.254.169.254/latest/meta-data/local-hostname")
        answered = in_netns("client", "ping", "-c1", "-W2", web["ipv4"][0]).returncode == 0
        if (got.stdout.endswith(" 403") and answered) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert got.stdout.endswith(" 403"), got
    assert answered, f"the instance {web['ipv4'][0]} does not answer after the reboot"
    key = tmp_path / "admin_key"
    key.write_text(dev.outputs()["admin_private_key"])
    key.chmod(0o600)
    ran = instance_ssh(key, f"web-1.{dev.outputs()['domain']}", "cat /var/lib/mammatus/hello.txt")
    assert ran.stdout == "hello from the dev stack\n", ran.stderr
    dev.pulumi("up", "--yes", "--expect-no-changes", "--stack", "dev")


def test_destroy_removes_everything(dev):
    instance_mac = dev.outputs()["instances"]["web-1"]["mac"]
    dev.pulumi("destroy", "--yes", "--stack", "dev")
    assert dev.resources() == []
    assert not dev.run_dir.exists()
    assert not dev.run_dir.parent.exists()      # the parent `up` made goes too
    assert not [ns for ns in netns_list() if ns.startswith(f"{PREFIX}-")]
    assert subprocess.run(["ip", "link", "show", f"{PREFIX}-lan0"], capture_output=True).returncode != 0
    assert f"{PREFIX}-lan0" not in subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert not Path(f"/etc/netns/{PREFIX}-client").exists()
    assert not Path(BOX_ENV["LXD_DIR"]).exists()   # the dev box's LXD, with its containers
    leftovers = subprocess.run(["pgrep", "-af", str(dev.run_dir)], capture_output=True, text=True)
    assert leftovers.stdout == ""  # no daemon of the stack still runs (LXD and its monitors too)
    # No LXD instance is left: their MAC is nowhere on this machine's links.
    links = subprocess.run(["ip", "-all", "netns", "exec", "ip", "link"], capture_output=True,
                           text=True).stdout + subprocess.run(["ip", "link"], capture_output=True,
                                                              text=True).stdout
    assert instance_mac not in links


def test_invalid_config_fails_before_any_resource(dev):
    dev.set_stack_config("dev", "mammatus:runDir", "not/absolute")
    try:
        failed = dev.pulumi("up", "--yes", "--stack", "dev", check=False)
        assert failed.returncode != 0
        assert "mammatus:runDir: must be an absolute path" in failed.stdout + failed.stderr
        # Only the stack's own root may exist: no resource of the cloud was registered.
        assert {r["type"] for r in dev.resources()} <= {"pulumi:pulumi:Stack"}
        assert not dev.run_dir.exists()
    finally:
        dev.set_stack_config("dev", "mammatus:runDir", str(dev.run_dir))
