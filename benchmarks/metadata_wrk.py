"""Benchmark: the metadata service under wrk on loopback, against a bare aiohttp ceiling.

In one run: aiohttp answering a constant (the ceiling: what aiohttp itself costs on this machine,
served the way the service is: the same event loop, aiohttp's low-level server without a router,
so neither side gets a cheaper path than the other), then `python -m services.metadata` with a
one-instance cloud (the lease maps
127.0.0.1, where wrk's connections come from, to the instance), wrk against
/latest/meta-data/instance-id without a token (IMDSv1, tokens optional) and with one (IMDSv2,
`tokens.required: true`). The neighbour check is on; loopback has no ARP, so its table is a file
in /proc/net/arp's format, read the same way (pread per request). The per-caller connection cap
is raised above --connections: every wrk connection comes from the same address. The access log
is off, as the Metadata component runs the service (`--access-log` turns it on, to a file).
Prints requests/s and p50/p99 latency, each as a share of the ceiling, and the goal.

    .venv/bin/python benchmarks/metadata_wrk.py [--duration 10] [--connections 32] [--threads 2]

Needs wrk (Debian package `wrk`, installed by tools/setup/metadata.sh). Goal: IMDSv2 >= 50 % of
the ceiling's requests/s, p99 <= 10 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.daemons import free_port  # noqa: E402
PATH = "/latest/meta-data/instance-id"
MAC = "02:00:00:00:00:01"
LOAD_BEFORE = "?"
GOAL_SHARE, GOAL_P99_MS = 0.50, 10.0
ARP_TABLE = ("IP address       HW type     Flags       HW address            Mask     Device\n"
             f"127.0.0.1        0x1         0x2         {MAC}     *        lo\n")


def serve_ceiling(port: int) -> None:
    """The ceiling: aiohttp answering a constant, served as the service is (the same event loop,
    services/event_loop.py; aiohttp's low-level server, no router), nothing else."""
    import asyncio

    from aiohttp import web

    from services import event_loop

    async def constant(request: web.BaseRequest) -> web.Response:
        return web.Response(text="i-0123456789abcdef0")

    async def main() -> None:
        server = web.Server(constant, access_log=None)
        await asyncio.get_running_loop().create_server(server, "127.0.0.1", port, reuse_port=True)
        await asyncio.Event().wait()

    event_loop.run(main())


def wait_listening(port: int, procs: list, log: Path) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    for proc in procs:
        proc.kill()
    raise SystemExit(f"did not start: {log.read_text()}")


def start_ceiling(workdir: Path, port: int, workers: int) -> list:
    log = open(workdir / "ceiling.log", "wb")
    procs = [subprocess.Popen([sys.executable, __file__, "--serve-ceiling", str(port)],
                              cwd=ROOT, stdout=log, stderr=log) for _ in range(workers)]
    wait_listening(port, procs, workdir / "ceiling.log")
    return procs


def write_cloud(workdir: Path, connections: int, tokens_required: bool) -> Path:
    (workdir / "token.key").write_bytes(os.urandom(32).hex().encode())
    (workdir / "leases").write_text(f"0 {MAC} 127.0.0.1 bench-1 *\n")
    (workdir / "arp").write_text(ARP_TABLE)
    (workdir / "instances.yaml").write_text(
        f"instances:\n- {{name: bench-1, macs: ['{MAC}'],"
        " ssh_keys: ['ssh-ed25519 AAAAbench bench@x']}\n")
    config = workdir / f"metadata-{'v2' if tokens_required else 'v1'}.yaml"
    config.write_text(f"""
tokens: {{secret_file: {workdir / 'token.key'}, required: {str(tokens_required).lower()}}}
identity:
  leases: [{workdir / 'leases'}]
  inventories: [{{type: file, path: {workdir / 'instances.yaml'}}}]
  neighbour_check: true
  neighbour_table: {workdir / 'arp'}
limits: {{connections_per_caller: {connections + 8}}}
""")
    return config


def start_service(workdir: Path, port: int, config: Path, access_log: bool,
                  workers: int) -> subprocess.Popen:
    log = open(workdir / "service.log", "ab")
    cmd = [sys.executable, "-m", "services.metadata", "--listen", f"127.0.0.1:{port}",
           "--config", str(config), "--workers", str(workers)]
    if not access_log:
        cmd.append("--no-access-log")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log)
    wait_listening(port, [proc], workdir / "service.log")
    return proc


def stop(procs: list) -> None:
    for proc in procs:
        os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=10)


def get_token(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("PUT", "/latest/api/token",
                 headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    resp = conn.getresponse()
    body = resp.read().decode()
    if resp.status != 200:
        raise SystemExit(f"token PUT failed: {resp.status} {body}")
    return body


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port: int, args, headers: list[str]) -> dict:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
           "--latency"]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(f"http://127.0.0.1:{port}{PATH}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99": to_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "raw": out,
    }


def measure_ceiling(workdir: Path, args) -> dict:
    port = free_port()
    procs = start_ceiling(workdir, port, args.workers)
    try:
        return run_wrk(port, args, [])
    finally:
        stop(procs)


def measure_service(workdir: Path, args, tokens_required: bool) -> dict:
    port = free_port()
    config = write_cloud(workdir, args.connections, tokens_required)
    proc = start_service(workdir, port, config, args.access_log, args.workers)
    try:
        headers = [f"X-aws-ec2-metadata-token: {get_token(port)}"] if tokens_required else []
        return run_wrk(port, args, headers)
    finally:
        stop([proc])


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def goal_line(imdsv2: dict, ceiling: dict) -> str:
    share = imdsv2["rps"] / ceiling["rps"]
    met = share >= GOAL_SHARE and imdsv2["p99"] <= GOAL_P99_MS and not imdsv2["errors"]
    return (f"goal: IMDSv2 >= {percent(GOAL_SHARE)} of the ceiling and p99 <= {GOAL_P99_MS:g} "
            f"ms (neighbour check and tokens on): {percent(share)}, p99 {imdsv2['p99']:.2f} ms "
            f"-> {'met' if met else 'NOT met'}")


def main() -> int:
    if sys.argv[1:2] == ["--serve-ceiling"]:
        serve_ceiling(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=False,
                        help="the service's access log, to a file (default: off, as deployed)")
    parser.add_argument("--workers", type=int, default=1,
                        help="service processes (and as many ceiling processes)")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: run tools/setup/metadata.sh (Debian package wrk)")
    global LOAD_BEFORE
    LOAD_BEFORE = "%.2f" % os.getloadavg()[0]  # other work on the machine skews the figures
    workdir = Path(tempfile.mkdtemp(prefix="metadata-bench-"))
    results = {
        "bare aiohttp (ceiling)": measure_ceiling(workdir, args),
        "IMDSv1 (no token)": measure_service(workdir, args, tokens_required=False),
        "IMDSv2 (token)": measure_service(workdir, args, tokens_required=True),
    }
    ceiling = results["bare aiohttp (ceiling)"]
    print(f"GET {PATH} on loopback, wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration}s, {os.cpu_count()} CPUs, {args.workers} process(es) each, "
          f"load average before {LOAD_BEFORE}, access log "
          f"{'on' if args.access_log else 'off'}, neighbour check on, IMDSv2 with tokens "
          "required")
    print(f"{'mode':<24} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
          f"{'of ceiling':>11}")
    for name, r in results.items():
        print(f"{name:<24} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
              f"{r['errors']:>8} {percent(r['rps'] / ceiling['rps']):>11}")
        if args.verbose:
            print(r["raw"])
    print(goal_line(results["IMDSv2 (token)"], ceiling))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
