"""Benchmark: the metadata service under wrk on loopback.

Starts `python -m services.metadata` with a one-instance cloud (the lease maps 127.0.0.1, where
wrk's connections come from, to the instance), then runs wrk against
/latest/meta-data/instance-id without a token (IMDSv1) and with one (IMDSv2), and prints
requests/s and p50/p99 latency. The access log stays on (written to a file), as in production.

    .venv/bin/python benchmarks/metadata_wrk.py [--duration 10] [--connections 32] [--threads 2]

Needs wrk (Debian package `wrk`, installed by tools/setup/metadata.sh). Goal on 2 cores:
>= 5,000 req/s and p99 <= 10 ms.
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
LOAD_BEFORE = "?"


def start_service(workdir: Path, port: int, access_log: bool, workers: int) -> subprocess.Popen:
    (workdir / "token.key").write_bytes(os.urandom(32).hex().encode())
    (workdir / "leases").write_text("0 02:00:00:00:00:01 127.0.0.1 bench-1 *\n")
    (workdir / "instances.yaml").write_text(
        "instances:\n- {name: bench-1, macs: ['02:00:00:00:00:01'],"
        " ssh_keys: ['ssh-ed25519 AAAAbench bench@x']}\n")
    (workdir / "metadata.yaml").write_text(f"""
tokens: {{secret_file: {workdir / 'token.key'}}}
identity:
  leases: [{workdir / 'leases'}]
  inventories: [{{type: file, path: {workdir / 'instances.yaml'}}}]
""")
    log = open(workdir / "service.log", "wb")
    cmd = [sys.executable, "-m", "services.metadata", "--listen", f"127.0.0.1:{port}",
           "--config", str(workdir / "metadata.yaml"), "--workers", str(workers)]
    if not access_log:
        cmd.append("--no-access-log")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"service did not start: {(workdir / 'service.log').read_text()}")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="service processes")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: run tools/setup/metadata.sh (Debian package wrk)")
    global LOAD_BEFORE
    LOAD_BEFORE = "%.2f" % os.getloadavg()[0]  # other work on the machine skews the figures
    workdir = Path(tempfile.mkdtemp(prefix="metadata-bench-"))
    port = free_port()
    proc = start_service(workdir, port, access_log=not args.no_access_log, workers=args.workers)
    try:
        token = get_token(port)
        results = {
            "IMDSv1 (no token)": run_wrk(port, args, []),
            "IMDSv2 (token)": run_wrk(port, args, [f"X-aws-ec2-metadata-token: {token}"]),
        }
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    print(f"GET {PATH} on loopback, wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration}s, {os.cpu_count()} CPUs, {args.workers} service process(es), "
          f"load average before {LOAD_BEFORE}, access log "
          f"{'off' if args.no_access_log else 'on'}")
    print(f"{'mode':<20} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:<20} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>8}")
        if args.verbose:
            print(r["raw"])
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
