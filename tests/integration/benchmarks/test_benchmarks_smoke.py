"""Each loopback benchmark runs end to end with tiny sizes, so none can rot between the runs that
measure (benchmarks/dev_up.py needs a whole dev stack: tests/unit/benchmarks covers its
accounting, and the e2e lifecycle test the up it times)."""

import re
import subprocess
import sys

from tests.support.paths import ROOT


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_sqs_throughput_prints_each_peer_and_the_ratios():
    out = run("sqs_throughput.py", "--messages", "20", "--procs", "1", "--threads", "1",
              "--skip-elasticmq")
    for peer in ("mammatus (deployed)", "mammatus (lazy fsync)", "moto server"):
        assert re.search(re.escape(peer) + r"(\s+\d+){4}\s*$", out, re.M), out
    assert re.search(r"send x10 / raw awaited publish: \d+ %", out), out
    assert re.search(r"send x1 / client ceiling: \d+ % .* recv\+del x1 / half the ceiling .*: \d+ %",
                     out), out
    assert re.search(r"cost of fsync per acknowledgement .*: send x1 \d+ %", out), out


def test_metadata_wrk_prints_both_modes_and_the_ceiling_without_errors():
    out = run("metadata_wrk.py", "--duration", "1", "--connections", "2", "--threads", "1")
    for mode in ("bare aiohttp (ceiling)", "IMDSv1 (no token)", "IMDSv2 (token)"):
        match = re.search(re.escape(mode) + r"\s+(\d+)\s+[\d.]+\s+[\d.]+\s+(\d+)\s+\d+ %", out)
        assert match and int(match.group(1)) > 0 and match.group(2) == "0", out
    assert re.search(r"^goal: IMDSv2 >= 50 % of the ceiling .*: \d+ %, p99 [\d.]+ ms -> ", out, re.M), out
