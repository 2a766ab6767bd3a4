"""What the probe costs beyond the measurement itself, on the testbed (500 Mbit/s link).

- wall time a probe adds per test: `netmeasure probe run` doing N iperf3 runs, against the
  same N iperf3 invocations run directly (target: <= 0.5 s per test);
- peak RSS of `netmeasure probe run` (target: <= 80 MB);
- CPU seconds per GB measured, probe (Python + iperf3) against raw iperf3.
Needs root. Run: sudo .venv/bin/python analysis/probe_overhead.py   (about 2 minutes)
Writes analysis/results/probe_overhead.md and .json.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results

from netmeasure.store import SampleStore
from netmeasure.testbed import Testbed

N = 8
RATE_MBIT = 500

CAMPAIGN = """
[probe]
id = "bench"
store = "{store}"
gpsd = {context}
modem = {context}
[schedule]
rounds = {n}
interval = "0s"
min_spacing = "0s"
[[tests]]
type = "iperf3"
server = "{server}"
direction = "download"
duration = "3s"
omit = "1s"
streams = 4
latency_under_load = false
"""


def children() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def timed(cmd: list[str]) -> tuple[float, float]:
    cpu0, _ = children()
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=600)
    return time.monotonic() - t0, children()[0] - cpu0


def main() -> int:
    result: dict = {"n_tests": N, "rate_mbit": RATE_MBIT, "machine": describe()}
    with Testbed(rate_mbit=RATE_MBIT) as tb, tempfile.TemporaryDirectory() as tmp:
        tb.start_iperf3_server(5201)
        # raw iperf3, the same invocation N times
        raw_wall = raw_cpu = 0.0
        raw_bytes = 0
        for _ in range(N):
            cpu0, _ = children()
            t0 = time.monotonic()
            out = subprocess.run(
                tb.client_cmd(
                    ["iperf3", "-c", tb.server_addr, "-J", "-t", "3", "-O", "1", "-P", "4", "-R"]
                ),
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            raw_wall += time.monotonic() - t0
            raw_cpu += children()[0] - cpu0
            raw_bytes += json.loads(out.stdout)["end"]["sum_received"]["bytes"]
        # python startup alone, to separate it from the per-test cost
        start_wall, _ = timed(tb.client_cmd([sys.executable, "-m", "netmeasure", "--version"]))
        for context in ("false", "true"):
            store = Path(tmp) / f"s-{context}.db"
            campaign = Path(tmp) / f"c-{context}.toml"
            campaign.write_text(
                CAMPAIGN.format(store=store, server=tb.server_addr, n=N, context=context)
            )
            # a fresh process per run, so that its peak RSS is its own
            probe = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    (
                        "import resource, subprocess, sys, time, json;"
                        "t0 = time.monotonic();"
                        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL,"
                        " stderr=subprocess.DEVNULL);"
                        "ru = resource.getrusage(resource.RUSAGE_CHILDREN);"
                        "print(json.dumps([time.monotonic() - t0, ru.ru_utime + ru.ru_stime,"
                        " ru.ru_maxrss]))"
                    ),
                    *tb.client_cmd(
                        [sys.executable, "-m", "netmeasure", "probe", "run", str(campaign)]
                    ),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            )
            wall, cpu, maxrss_kb = json.loads(probe.stdout)
            with SampleStore(store, create=False) as s:
                rows = [r for r in s.iter_rows() if r["metric"] == "download" and r["ok"]]
            probe_bytes = sum(r["value"] * r["duration_s"] / 8 for r in rows)
            result[f"context_{context}"] = {
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": maxrss_kb / 1024,
                "overhead_per_test_s": (wall - start_wall) / N - raw_wall / N,
                "cpu_s_per_gb": cpu / (probe_bytes / 1e9),
                "tests_ok": len(rows),
            }
        result["raw"] = {
            "wall_s": raw_wall,
            "cpu_s": raw_cpu,
            "cpu_s_per_gb": raw_cpu / (raw_bytes / 1e9),
        }
        result["python_startup_s"] = start_wall
    lines = [
        f"`netmeasure probe run`, {N} iperf3 downloads of 3 s (+1 s warm-up, 4 streams)"
        f" over a {RATE_MBIT} Mbit/s testbed link, against the same iperf3 invocation run"
        f" {N} times directly. Machine: {describe()}.",
        "",
        "| | probe, no context readers | probe, gpsd + ModemManager readers on | raw iperf3 |",
        "|---|---:|---:|---:|",
    ]
    a, b, r = result["context_false"], result["context_true"], result["raw"]
    lines += [
        f"| wall time added per test (s) | {a['overhead_per_test_s']:.3f} |"
        f" {b['overhead_per_test_s']:.3f} | — |",
        f"| peak RSS (MB) | {a['peak_rss_mb']:.1f} | {b['peak_rss_mb']:.1f} | — |",
        f"| CPU seconds per GB measured | {a['cpu_s_per_gb']:.2f} | {b['cpu_s_per_gb']:.2f} |"
        f" {r['cpu_s_per_gb']:.2f} |",
        "",
        f"Python start-up of `netmeasure` (once per run, not per test):"
        f" {result['python_startup_s']:.2f} s. Targets: ≤ 0.5 s per test, ≤ 80 MB.",
    ]
    write_results("probe_overhead", lines, result)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
