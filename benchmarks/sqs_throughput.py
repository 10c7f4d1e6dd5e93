"""SQS throughput through boto3 on loopback: Mammatus (SQS over JetStream) vs peers.

Measures messages/s for SendMessage, SendMessageBatch (10), ReceiveMessage+DeleteMessage (1) and
ReceiveMessage(10)+DeleteMessageBatch, against:
  - mammatus: python -m services.sqs on a fresh nats-server with the deployed config (file storage,
    fsync before every acknowledgement), and once more with nats-server's default sync (a 2-minute
    timer) to print what acknowledged-means-on-disk costs
  - moto:     moto's server from PyPI (in memory)
  - elasticmq: ElasticMQ's server assembled from Maven Central with mvn (in memory), if mvn works
and raw JetStream publish through nats-py (each publish awaited, like a SendMessage) as the ceiling.
The client ceiling (boto3 SendMessage against a do-nothing aiohttp server) is measured just before
and just after the deployed run and the ratios use the mean: on a machine others use, the load
drifts within the minutes a whole run takes.

Run: .venv/bin/python benchmarks/sqs_throughput.py [--messages 3000] [--procs 3] [--threads 2] [--skip-elasticmq]
All traffic stays on 127.0.0.1; every daemon is started here and stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.daemons import free_port, wait_for_port  # noqa: E402
from tests.support.nats import NatsServer  # noqa: E402

KEY, SECRET = "AKIDBENCH", "bench-secret"
ELASTICMQ_VERSION = "1.6.14"


def start(cmd, log, env=None, cwd=None):
    return subprocess.Popen(cmd, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env, cwd=cwd)


def stop(proc):
    if proc and proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def elasticmq_classpath(cache: Path) -> str | None:
    """Resolve elasticmq-server and its dependencies from Maven Central into ~/.m2 with mvn."""
    if not shutil.which("mvn") or not shutil.which("java"):
        return None
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "pom.xml").write_text(f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
<modelVersion>4.0.0</modelVersion><groupId>local.bench</groupId><artifactId>elasticmq-peer</artifactId>
<version>1</version><dependencies><dependency><groupId>org.elasticmq</groupId>
<artifactId>elasticmq-server_2.13</artifactId><version>{ELASTICMQ_VERSION}</version></dependency>
</dependencies></project>""")
    r = subprocess.run(["mvn", "-q", "-B", "dependency:build-classpath", "-Dmdep.outputFile=cp.txt"],
                       cwd=cache, capture_output=True, timeout=600)
    if r.returncode != 0 or not (cache / "cp.txt").exists():
        return None
    return (cache / "cp.txt").read_text().strip()


def client(endpoint):
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        config=Config(retries={"max_attempts": 0}, max_pool_connections=64))


OURS = "mammatus (deployed)"
OURS_LAZY = "mammatus (lazy fsync)"
PHASE_SECONDS = 20.0  # each phase stops after its call count or this long, whichever comes first
BODY = "x" * 256


def make_call(kind: str, endpoint: str, url: str):
    """One boto3 call of a phase; returns the number of messages it moved."""
    cl = client(endpoint)
    entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]

    def send1():
        cl.send_message(QueueUrl=url, MessageBody=BODY)
        return 1

    def send10():
        cl.send_message_batch(QueueUrl=url, Entries=entries)
        return 10

    def recv1():
        msgs = cl.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        for m in msgs:
            cl.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(msgs)

    def recv10():
        msgs = cl.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if msgs:
            cl.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        return len(msgs)

    return {"send1": send1, "send10": send10, "recv1": recv1, "recv10": recv10}[kind]


def _client_process(kind, endpoint, url, threads, calls, barrier, results):
    per = [calls // threads + (1 if i < calls % threads else 0) for i in range(threads)]
    moved = [0] * threads
    ready = threading.Barrier(threads + 1)

    def body(i, n):
        call = make_call(kind, endpoint, url)
        ready.wait()
        deadline = time.perf_counter() + PHASE_SECONDS
        for _ in range(n):
            moved[i] += call()
            if time.perf_counter() > deadline:
                break

    ts = [threading.Thread(target=body, args=(i, n)) for i, n in enumerate(per)]
    for t in ts:
        t.start()
    barrier.wait()   # every process has its clients built: start together
    ready.wait()
    for t in ts:
        t.join()
    results.put(sum(moved))


def run_phase(kind: str, endpoint: str, url: str, procs: int, threads: int, calls: int) -> float:
    """calls boto3 calls spread over procs processes x threads threads; returns messages/s."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs + 1)
    results = ctx.Queue()
    per = [calls // procs + (1 if i < calls % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=_client_process, args=(kind, endpoint, url, threads, n, barrier, results))
          for n in per]
    for p in ps:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    moved = sum(results.get() for _ in ps)
    secs = time.perf_counter() - t0
    for p in ps:
        p.join()
    return moved / secs


NULL_SERVER = """
import json, sys
from aiohttp import web
async def h(req):
    await req.read()
    return web.Response(body=json.dumps({"MessageId": "x", "MD5OfMessageBody": "x"}).encode(),
                        content_type="application/x-amz-json-1.0")
app = web.Application()
app.router.add_route("*", "/{t:.*}", h)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def bench_client_ceiling(tmp, messages, procs, threads):
    """SendMessage against a server that does nothing: what boto3 itself can issue here."""
    port = free_port()
    proc = start([sys.executable, "-c", NULL_SERVER, str(port)], tmp / "null.log")
    try:
        wait_for_port(port, proc)
        endpoint = f"http://127.0.0.1:{port}"
        return run_phase("send1", endpoint, endpoint + "/0/q", procs, threads, messages)
    finally:
        stop(proc)


def bench_sqs(name, endpoint, messages, procs, threads):
    c = client(endpoint)
    url = c.create_queue(QueueName=f"bench-{name}-single", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    burl = c.create_queue(QueueName=f"bench-{name}-batch", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    return {
        "send x1": run_phase("send1", endpoint, url, procs, threads, messages),
        "send x10": run_phase("send10", endpoint, burl, procs, threads, messages // 10),
        "recv+del x1": run_phase("recv1", endpoint, url, procs, threads, messages),
        "recv+del x10": run_phase("recv10", endpoint, burl, procs, threads, messages // 10),
    }


async def bench_raw_jetstream(url, messages):
    import nats
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="RAWBENCH", subjects=["rawbench"], storage="file")
    payload = b"x" * 256
    t0 = time.perf_counter()
    for _ in range(messages):
        await js.publish("rawbench", payload)
    awaited = messages / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(messages):
        await js.publish_async("rawbench", payload)
    await js.publish_async_completed()
    pipelined = messages / (time.perf_counter() - t0)
    await nc.close()
    return awaited, pipelined


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--procs", type=int, default=3, help="client processes (boto3 is CPU-bound)")
    ap.add_argument("--threads", type=int, default=2, help="threads per client process")
    ap.add_argument("--skip-elasticmq", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sqs-bench-"))
    procs = []
    table = {}
    creds = tmp / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    # The deployed policy last: its NATS stays up for the raw JetStream figures.
    ceilings = []
    for label, sync in ((OURS_LAZY, "2m"), (OURS, "always")):
        nats = NatsServer(tmp / f"nats-{sync}", sync_interval=sync).start()
        port = free_port()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        ours = start([sys.executable, "-m", "services.sqs", "--listen", f"127.0.0.1:{port}",
                      "--nats", nats.url, "--credentials", str(creds)], tmp / f"sqs-{sync}.log", env, ROOT)
        procs.append(ours)
        wait_for_port(port, ours)
        if label == OURS:  # the ceiling just before and just after: others' load drifts
            ceilings.append(bench_client_ceiling(tmp, args.messages, args.procs, args.threads))
        table[label] = bench_sqs("ours", f"http://127.0.0.1:{port}", args.messages, args.procs, args.threads)
        if label == OURS:
            ceilings.append(bench_client_ceiling(tmp, args.messages, args.procs, args.threads))
        stop(ours)
        if sync != "always":
            nats.stop()
    try:

        mport = free_port()
        moto = start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(mport)], tmp / "moto.log")
        procs.append(moto)
        wait_for_port(mport, moto)
        table["moto server"] = bench_sqs("moto", f"http://127.0.0.1:{mport}", args.messages, args.procs, args.threads)
        stop(moto)

        cp = None if args.skip_elasticmq else elasticmq_classpath(ROOT / ".cache" / "elasticmq")
        if cp:
            eport = free_port()
            conf = tmp / "elasticmq.conf"
            conf.write_text('include classpath("application.conf")\n'
                            f'node-address {{ protocol = http, host = "127.0.0.1", port = {eport}, context-path = "" }}\n'
                            f'rest-sqs {{ enabled = true, bind-port = {eport}, bind-hostname = "127.0.0.1", sqs-limits = strict }}\n'
                            'rest-stats { enabled = false }\n')
            em = start(["java", f"-Dconfig.file={conf}", "-cp", cp, "org.elasticmq.server.Main"], tmp / "elasticmq.log")
            procs.append(em)
            wait_for_port(eport, em, timeout=60)
            time.sleep(1)
            table[f"elasticmq {ELASTICMQ_VERSION}"] = bench_sqs("emq", f"http://127.0.0.1:{eport}", args.messages, args.procs, args.threads)
            stop(em)
        else:
            print("elasticmq: skipped (no mvn/java or Maven Central not reachable)")

        awaited, pipelined = asyncio.run(bench_raw_jetstream(nats.url, args.messages * 5))
        ceiling = sum(ceilings) / len(ceilings)
    finally:
        for p in procs:
            stop(p)
        nats.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    cols = ["send x1", "send x10", "recv+del x1", "recv+del x10"]
    print(f"\nup to {args.messages} messages of 256 B per phase (at most {PHASE_SECONDS:.0f} s), "
          f"{args.procs} client processes x {args.threads} boto3 threads, loopback, msgs/s")
    print(f"{'':24}" + "".join(f"{c:>14}" for c in cols))
    for name, r in table.items():
        print(f"{name:24}" + "".join(f"{r[c]:>14.0f}" for c in cols))
    print(f"raw JetStream publish, nats-py, each awaited: {awaited:.0f} msgs/s; pipelined: {pipelined:.0f} msgs/s")
    print(f"boto3 SendMessage against a do-nothing server (client ceiling): {ceiling:.0f} calls/s "
          f"(mean of {ceilings[0]:.0f} just before and {ceilings[1]:.0f} just after the deployed run)")
    ours, lazy = table[OURS], table[OURS_LAZY]
    print(f"mammatus send x10 / raw awaited publish: {100 * ours['send x10'] / awaited:.0f} %; "
          f"send x1: {100 * ours['send x1'] / awaited:.0f} %")
    print(f"send x1 / client ceiling: {100 * ours['send x1'] / ceiling:.0f} % (goal >= 85 %); "
          f"recv+del x1 / half the ceiling (two calls): {200 * ours['recv+del x1'] / ceiling:.0f} % "
          "(goal >= 75 %)")
    print("cost of fsync per acknowledgement (deployed / default sync): " + ", ".join(
        f"{c} {100 * ours[c] / lazy[c]:.0f} %" for c in cols))
    for name, r in table.items():
        if name.startswith("elasticmq"):
            print(f"mammatus / {name}: " + ", ".join(f"{c} {100 * ours[c] / r[c]:.0f} %" for c in cols))


if __name__ == "__main__":
    main()
