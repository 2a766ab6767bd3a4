"""Latency as precise as ping (issue 23): the probe's ICMP and TCP-connect RTTs against a
kernel capture on a delay line of 10, 20 and 50 ms (testbed.md: TUN devices and a forwarder;
netem is absent here). The truth of each echo is its capture on the client's device."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest

from conftest import num
from netmeasure.probe.latency import jitter_ms
from netmeasure.testbed import DelayLineTestbed, unavailable_reason

pytestmark = [pytest.mark.testbed, pytest.mark.slow]

COUNT = 40
PORT = 5201


@pytest.mark.parametrize("delay_ms", [10, 20, 50])
def test_icmp_and_tcp_connect_match_the_kernel_capture(tmp_path: Path, delay_ms: float) -> None:
    reason = unavailable_reason() or (None if shutil.which("tcpdump") else "no tcpdump")
    if reason:
        pytest.skip(f"testbed not available here: {reason}")
    with DelayLineTestbed(delay_ms) as tb:
        tb.start_listener(PORT)
        results = {m: tb.probe_vs_capture(m, tmp_path, COUNT, PORT) for m in ("icmp", "tcp")}
    for method, (measured, truth) in results.items():
        assert len(measured) == COUNT and None not in measured, (method, measured)
        probe = [num(v) for v in measured]
        assert len(truth) == COUNT, (method, len(truth))
        median_error = statistics.median(probe) - statistics.median(truth)
        jitter_error = num(jitter_ms(probe)) - num(jitter_ms(truth))
        print(
            f"{method} {delay_ms} ms: median {statistics.median(probe):.3f} vs"
            f" {statistics.median(truth):.3f} ms, jitter {jitter_ms(probe):.3f} vs"
            f" {jitter_ms(truth):.3f} ms"
        )
        assert abs(median_error) <= 0.05, (method, delay_ms, median_error)
        assert abs(jitter_error) <= 0.03, (method, delay_ms, jitter_error)
