"""Probe accuracy on the testbed: a link shaped with tbf to a known rate, measured by the
probe's runners and by raw iperf3 in the same run.

Ground truth for TCP goodput: R x 1448/1514 (Ethernet framing, 1500-byte MTU, TCP timestamps).
For each shaped rate the script runs, in two network namespaces joined by a veth pair:
  - netmeasure's iperf3 runner (`netmeasure probe run`, 4 streams, 5 s after a 1 s warm-up),
  - the same iperf3 invocation run directly,
  - netmeasure's speedtest runner (speedtest-cli as a library) against a Speedtest Mini
    server in the server namespace (tests/speedtest_server.py), 5 s per direction.
Needs root. Run: sudo .venv/bin/python analysis/probe_accuracy.py   (about 3 minutes)
Writes analysis/results/probe_accuracy.md and .json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results

from netmeasure.store import SampleStore
from netmeasure.testbed import Testbed, expected_tcp_goodput_bps

RATES_MBIT = (20, 100, 500)
ROOT = Path(__file__).parents[1]

CAMPAIGN = """
[probe]
id = "bench"
store = "{store}"
gpsd = false
modem = false
[schedule]
rounds = 1
min_spacing = "0s"
[[tests]]
type = "iperf3"
server = "{server}"
direction = "both"
duration = "5s"
omit = "1s"
streams = 4
latency_under_load = false
[[tests]]
type = "speedtest"
mini = "http://{server}:8080/speedtest/"
length = "5s"
"""

MINI_SERVER = (
    "import sys, time; sys.path.insert(0, {tests!r}); import speedtest_server as s; "
    "from http.server import ThreadingHTTPServer; "
    "srv = s.MiniServer(('0.0.0.0', 8080), s.MiniHandler); srv.serve_forever()"
)


def measure(rate: int) -> list[dict]:
    rows = []
    with Testbed(rate_mbit=rate) as tb, tempfile.TemporaryDirectory() as tmp:
        tb.start_iperf3_server(5201)
        tb.start_server([sys.executable, "-c", MINI_SERVER.format(tests=str(ROOT / "tests"))])
        tb.wait_for_port(8080)
        store = Path(tmp) / "s.db"
        campaign = Path(tmp) / "c.toml"
        campaign.write_text(CAMPAIGN.format(store=store, server=tb.server_addr))
        subprocess.run(
            tb.client_cmd(
                [sys.executable, "-m", "netmeasure", "probe", "run", str(campaign), "--quiet"]
            ),
            check=True,
            timeout=300,
        )
        raw = {}
        for metric, extra in (("download", ["--reverse"]), ("upload", [])):
            out = subprocess.run(
                tb.client_cmd(
                    ["iperf3", "-c", tb.server_addr, "-J", "-t", "5", "-O", "1", "-P", "4", *extra]
                ),
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            raw[metric] = json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]
        with SampleStore(store, create=False) as s:
            got = {
                (r["tool"], r["metric"]): r["value"]
                for r in s.iter_rows()
                if r["metric"] in ("download", "upload")
            }
    truth = expected_tcp_goodput_bps(rate * 1e6)
    for metric in ("download", "upload"):
        for runner, value in (
            ("netmeasure iperf3", got.get(("iperf3", metric))),
            ("raw iperf3", raw[metric]),
            ("netmeasure speedtest", got.get(("speedtest-cli", metric))),
        ):
            rows.append(
                {
                    "rate_mbit": rate,
                    "metric": metric,
                    "runner": runner,
                    "measured_bps": value,
                    "theoretical_bps": truth,
                    "ratio": None if value is None else value / truth,
                }
            )
    return rows


def main() -> int:
    rows = [r for rate in RATES_MBIT for r in measure(rate)]
    lines = [
        f"Shaped rate R (tbf, both directions) × runner. Theoretical TCP goodput R ×"
        f" 1448/1514. Machine: {describe()}.",
        "",
        "| shaped rate | direction | runner | measured (Mbit/s) | theoretical (Mbit/s) |"
        " ratio | vs raw iperf3 |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        raw = next(
            x
            for x in rows
            if x["rate_mbit"] == r["rate_mbit"]
            and x["metric"] == r["metric"]
            and x["runner"] == "raw iperf3"
        )
        vs = "" if r["measured_bps"] is None else f"{r['measured_bps'] / raw['measured_bps']:.4f}"
        meas = "—" if r["measured_bps"] is None else f"{r['measured_bps'] / 1e6:.2f}"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.4f}"
        lines.append(
            f"| {r['rate_mbit']} Mbit/s | {r['metric']} | {r['runner']} | {meas} |"
            f" {r['theoretical_bps'] / 1e6:.2f} | {ratio} | {vs} |"
        )
    write_results("probe_accuracy", lines, {"rows": rows, "machine": describe()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
