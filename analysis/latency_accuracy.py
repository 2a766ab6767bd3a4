"""Latency accuracy per method against the kernel's capture, on a TUN delay line.

For 10, 20 and 50 ms of added round-trip delay (netmeasure.delayline; netem is absent here):
the probe's in-process ICMP (kernel receive stamps), TCP connect (the kernel's SYN -> SYN-ACK
sample, TCP_INFO) and the system-ping fallback, each against tcpdump's capture on the client's
device (the truth of each echo). Needs root. Run: sudo .venv/bin/python
analysis/latency_accuracy.py   (about a minute). Writes analysis/results/latency_accuracy.md
and .json.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results

from netmeasure.probe.latency import jitter_ms
from netmeasure.testbed import DelayLineTestbed

DELAYS_MS = (10, 20, 50)
METHODS = ("icmp", "tcp", "ping")
COUNT = 40
PORT = 5201


def main() -> None:
    rows, data = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for delay in DELAYS_MS:
            with DelayLineTestbed(delay) as tb:
                tb.start_listener(PORT)
                for method in METHODS:
                    probe, truth = tb.probe_vs_capture(method, Path(tmp), COUNT, PORT)
                    got = [r for r in probe if r is not None]
                    entry = {
                        "delay_ms": delay,
                        "method": method,
                        "n": len(got),
                        "captured": len(truth),
                        "median_ms": statistics.median(got),
                        "truth_median_ms": statistics.median(truth),
                        "jitter_ms": jitter_ms(got),
                        "truth_jitter_ms": jitter_ms(truth),
                    }
                    data.append(entry)
                    rows.append(
                        f"| {delay} | {method} | {entry['median_ms']:.3f} |"
                        f" {entry['truth_median_ms']:.3f} |"
                        f" {entry['median_ms'] - entry['truth_median_ms']:+.3f} |"
                        f" {entry['jitter_ms']:.3f} | {entry['truth_jitter_ms']:.3f} |"
                    )
    lines = [
        f"Latency accuracy on a TUN delay line ({describe()}), {COUNT} echoes per method:",
        "",
        "| delay (ms) | method | median (ms) | capture median (ms) | error (ms) |"
        " jitter (ms) | capture jitter (ms) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "icmp: in-process ICMP socket, RTT = kernel receive stamp (SO_TIMESTAMPNS) minus a"
        " clock_gettime send time; tcp: the kernel's SYN -> SYN-ACK sample (TCP_INFO tcpi_rtt,"
        " µs); ping: iputils ping -c 1 per echo, read from its 3-decimal summary.",
    ]
    write_results("latency_accuracy", lines, {"machine": describe(), "runs": data})


if __name__ == "__main__":
    main()
