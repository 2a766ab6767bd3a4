"""Latency as precise as ping (issue 23): the probe's ICMP and TCP-connect RTTs against a
kernel capture on a delay line of 10, 20 and 50 ms (testbed.md: TUN devices and a forwarder;
netem is absent here). The truth of each echo is its capture on the client's device."""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netmeasure.probe.latency import jitter_ms
from netmeasure.testbed import DelayLineTestbed, capture_rtts, unavailable_reason

pytestmark = [pytest.mark.testbed, pytest.mark.slow]

COUNT = 40
PORT = 5201

#: Inside the client namespace: the probe's own latency runner, its RTTs as JSON.
MEASURE = """
import json, sys
from netmeasure.probe import latency
spec = latency.LatencySpec(target=sys.argv[1], method=sys.argv[2], port=int(sys.argv[3]),
                           count=int(sys.argv[4]), interval_s=0.1, timeout_s=2.0)
out = latency.run(spec)
print(json.dumps({"via": out.via, "rtts": [m.value for m in out.measurements
                                           if m.metric == "latency"]}))
"""

KNOCK = (
    "import socket, sys; s = socket.socket(); s.settimeout(1)\n"
    "try: s.connect((sys.argv[1], 9))\nexcept OSError: pass"
)

LISTEN = (
    "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET,"
    " socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', {port})); s.listen(1024); time.sleep(600)"
)


def measure(tb: DelayLineTestbed, method: str, tmp_path: Path) -> tuple[list[float], list[float]]:
    """(the probe's RTTs, the capture's) of COUNT echoes or handshakes, in ms."""
    pcap = tmp_path / f"{method}.pcap"
    dump = subprocess.Popen(
        tb.client_cmd(
            ["tcpdump", "-i", tb.client_dev, "-n", "-U", "--immediate-mode", "-w", str(pcap)]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert dump.stderr is not None
        dump.stderr.readline()  # "listening on ..." comes before the capture is attached:
        # knock (a SYN to a closed port, no handshake to pair) until the file holds a packet
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            subprocess.run(
                tb.client_cmd([sys.executable, "-c", KNOCK, tb.server_addr]),
                capture_output=True,
                timeout=20,
            )
            if pcap.exists() and pcap.stat().st_size > 24:  # more than the pcap header
                break
        done = subprocess.run(
            tb.client_cmd(
                [sys.executable, "-c", MEASURE, tb.server_addr, method, str(PORT), str(COUNT)]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    finally:
        time.sleep(0.5)
        dump.send_signal(signal.SIGINT)  # tcpdump flushes its file on SIGINT
        dump.wait(timeout=10)
    probe = json.loads(done.stdout)["rtts"]
    read = subprocess.run(
        ["tcpdump", "-r", str(pcap), "-tt", "-n", "--time-stamp-precision=nano"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    truth = capture_rtts(read.stdout)["icmp" if method == "icmp" else "tcp"]
    return probe, truth


@pytest.mark.parametrize("delay_ms", [10, 20, 50])
def test_icmp_and_tcp_connect_match_the_kernel_capture(tmp_path: Path, delay_ms: float) -> None:
    reason = unavailable_reason() or (None if shutil.which("tcpdump") else "no tcpdump")
    if reason:
        pytest.skip(f"testbed not available here: {reason}")
    with DelayLineTestbed(delay_ms) as tb:
        tb.start_server([sys.executable, "-c", LISTEN.format(port=PORT)])
        tb.wait_for_port(PORT)
        results = {m: measure(tb, m, tmp_path) for m in ("icmp", "tcp")}
    for method, (probe, truth) in results.items():
        assert len(probe) == COUNT and None not in probe, (method, probe)
        assert len(truth) == COUNT, (method, len(truth))
        median_error = statistics.median(probe) - statistics.median(truth)
        jitter_error = jitter_ms(probe) - jitter_ms(truth)  # type: ignore[operator]
        print(
            f"{method} {delay_ms} ms: median {statistics.median(probe):.3f} vs"
            f" {statistics.median(truth):.3f} ms, jitter {jitter_ms(probe):.3f} vs"
            f" {jitter_ms(truth):.3f} ms"
        )
        assert abs(median_error) <= 0.05, (method, delay_ms, median_error)
        assert abs(jitter_error) <= 0.03, (method, delay_ms, jitter_error)
