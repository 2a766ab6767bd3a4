"""The http runner against raw curl and iperf3 on the same tbf-shaped link, and the shipped
test server's (nginx) aggregate capacity against the number of concurrent probes.

Part 1, for each shaped rate R: one 1-connection transfer of an object sized for ~3 s, by
  - netmeasure's http runner (in-process: HttpRunner.run),
  - raw curl, as the runner runs it,
  - iperf3 -P 1 for 3 s (receiver side),
download and upload; measured / (R x 1448/1514), and the probe side's CPU seconds (user +
system of the measuring process and its children, from getrusage) per GB moved.
Part 2, an unshaped veth (the server's CPU is the limit): N probes (each its own curl, one
connection) download or upload an object at once from one nginx; aggregate rate = all bytes /
(the last transfer's last data - the first one's first data), and the failures by class.

Clients and nginx run on SCHED_FIFO (chrt): on this shared 2-core machine an ordinary process
is descheduled for tens of ms at a time by other work. Needs root.
Run: sudo .venv/bin/python analysis/http_bench.py   (about 4 minutes)
Writes analysis/results/http_bench.md and .json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from machine import describe, write_results

from netmeasure.testbed import Testbed, expected_tcp_goodput_bps
from nginx_server import remove_server, server_prefix, start_nginx

ROOT = Path(__file__).parents[1]

#: Shaped rate (Mbit/s) -> (tbf burst, object of ~3 s).
RATES = {
    100: ("128kb", "36MB"),
    500: ("128kb", "180MB"),
    1000: ("128kb", "360MB"),
    2000: ("256kb", "720MB"),
}
PROBES = (1, 5, 10, 25, 50, 100)
RT = ("chrt", "-f", "10")

#: Runs in the client namespace: one measurement, printed as JSON with its CPU time.
CLIENT = r"""
import json, resource, subprocess, sys, threading, time
kind, arg = sys.argv[1], json.loads(sys.argv[2])
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
if kind == "runner":
    from netmeasure.probe import http
    spec = http.HttpSpec(**arg)
    http.check()  # the version check is cached: not part of a measurement
    c0 = cpu()
    (o,) = http.RUNNER.run(spec, stop=threading.Event())
    used = cpu() - c0
    rate = o.measurements[0]
    print(json.dumps({"bps": rate.value, "error": o.error, "cpu_s": used,
                      "bytes": arg.get("size_bytes")}))
elif kind == "command":
    c0 = cpu()
    out = subprocess.run(arg, capture_output=True, text=True, timeout=300).stdout
    print(json.dumps({"out": out, "cpu_s": cpu() - c0}))
elif kind == "fleet":
    # Each probe: the runner's command and parse, its curl waited for in a blocking wait, so
    # that the wall time at its exit places its trigger points on one clock (anchoring at the
    # start instead would add the time 100 threads take to start 100 processes).
    from netmeasure.probe import http
    n, spec = arg["n"], http.HttpSpec(**arg["spec"])
    go, out = threading.Barrier(n), [None] * n
    def one(i):
        with http.upload_body(int(spec.size_bytes)) as body:
            cmd = http.build_command(spec, body=body if spec.direction == "upload" else None)
            go.wait()
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            t_exit = time.time()
        o = http.parse(done.stdout, direction=spec.direction, connections=1)
        (t,) = o.transfers
        end = json.loads(done.stdout)["time_total"]
        out[i] = {"error": o.error, "bytes": t.bytes,
                  "first": t_exit - end + (t.first_data_s or 0) if t.first_data_s else None,
                  "last": t_exit if t.last_data_s else None}
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(json.dumps(out))
"""


def client(tb: Testbed, kind: str, arg: object) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        tb.client_cmd([*RT, sys.executable, "-c", CLIENT, kind, json.dumps(arg)]),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def size_bytes(name: str) -> int:
    return int(name.removesuffix("MB")) * 1_000_000


def raw_curl(tb: Testbed, url: str, body: str | None) -> dict:
    args = ["curl", "-q", "-s", "--http1.1", "--noproxy", "*", "-H", "Expect:", "-o", "/dev/null"]
    args += ["-w", "%{json}", *(["-T", body] if body else []), url]
    got = client(tb, "command", args)
    d = json.loads(got["out"])
    first = d["time_pretransfer"] if body else d["time_starttransfer"]
    moved = d["size_upload"] if body else d["size_download"]
    return {"bps": moved * 8 / (d["time_total"] - first), "cpu_s": got["cpu_s"], "bytes": moved}


def iperf3(tb: Testbed, upload: bool) -> dict:
    args = ["iperf3", "-c", tb.server_addr, "-J", "-t", "3", "-P", "1", *([] if upload else ["-R"])]
    got = client(tb, "command", args)
    end = json.loads(got["out"])["end"]
    # the probe's CPU is its own (the client side); iperf3's bytes: the receiver's
    moved = end["sum_received"]["bytes"]
    return {"bps": end["sum_received"]["bits_per_second"], "cpu_s": got["cpu_s"], "bytes": moved}


def accuracy() -> list[dict]:
    rows = []
    for rate, (burst, obj) in RATES.items():
        srv = server_prefix()
        try:
            with Testbed(rate_mbit=rate, burst=burst) as tb:
                start_nginx(tb, srv, [obj], realtime=True)
                tb.start_server([*RT, "iperf3", "-s", "-p", "5201"])
                tb.wait_for_port(5201)
                base = f"http://{tb.server_addr}"
                for direction in ("download", "upload"):
                    up = direction == "upload"
                    url = f"{base}/upload" if up else f"{base}/files/{obj}"
                    spec = {"url": url, "direction": direction, "size_bytes": size_bytes(obj)}
                    results = {
                        "http runner": client(tb, "runner", spec),
                        "raw curl": raw_curl(tb, url, str(srv / "files" / obj) if up else None),
                        "iperf3 -P 1": iperf3(tb, up),
                    }
                    truth = expected_tcp_goodput_bps(rate * 1e6)
                    for tool, r in results.items():
                        gb = (r["bytes"] or 0) / 1e9
                        rows.append(
                            {
                                "rate_mbit": rate,
                                "direction": direction,
                                "tool": tool,
                                "measured_bps": r["bps"],
                                "ratio": None if r["bps"] is None else r["bps"] / truth,
                                "cpu_s_per_gb": r["cpu_s"] / gb if gb else None,
                                "error": r.get("error"),
                            }
                        )
                        print(rows[-1], flush=True)
        finally:
            remove_server(srv)
    return rows


def capacity() -> list[dict]:
    rows = []
    srv = server_prefix()
    try:
        with Testbed(rate_mbit=None) as tb:
            start_nginx(tb, srv, ["100MB"], realtime=True)
            base = f"http://{tb.server_addr}"
            for direction in ("download", "upload"):
                for n in PROBES:
                    up = direction == "upload"
                    spec = {
                        "url": f"{base}/upload" if up else f"{base}/files/100MB",
                        "direction": direction,
                        "size_bytes": 100e6,
                        "timeout_s": 300,
                    }
                    got = client(tb, "fleet", {"n": n, "spec": spec})
                    done = [g for g in got if g["last"] is not None]
                    errors: dict[str, int] = {}
                    for g in got:
                        if g["error"]:
                            errors[g["error"]] = errors.get(g["error"], 0) + 1
                    span = max(g["last"] for g in done) - min(g["first"] for g in done)
                    agg = sum(g["bytes"] for g in done) * 8 / span
                    rows.append(
                        {
                            "direction": direction,
                            "probes": n,
                            "aggregate_bps": agg,
                            "per_probe_bps": agg / n,
                            "completed": len(done),
                            "errors": errors,
                            "span_s": span,
                        }
                    )
                    print(rows[-1], flush=True)
    finally:
        remove_server(srv)
    return rows


def main() -> int:
    load = os.getloadavg()
    # --capacity: the server's part only (the accuracy part kept from the last full run)
    if "--capacity" in sys.argv:
        old = json.loads((Path(__file__).parent / "results" / "http_bench.json").read_text())
        acc = old["accuracy"]
    else:
        acc = accuracy()
    cap = capacity()
    lines = report(acc, cap, load)
    write_results(
        "http_bench",
        lines,
        {"accuracy": acc, "capacity": cap, "machine": describe(), "load_average": load},
    )
    return 0


def report(acc: list[dict], cap: list[dict], load: tuple[float, ...]) -> list[str]:
    lines = [
        "Measured by analysis/http_bench.py.",
        "",
        f"Machine: {describe()}; load average at the start {load[0]:.1f} (other work shared"
        " the 2 cores; clients and nginx on SCHED_FIFO).",
        "",
        "**Accuracy and probe CPU** (tbf-shaped veth, one connection, ~3 s transfers;"
        " theory R × 1448/1514; CPU: user + system seconds of the measuring process and its"
        " children per GB moved):",
        "",
        "| shaped rate | direction | tool | measured (Mbit/s) | measured / theory | CPU s per GB |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in acc:
        meas = "—" if r["measured_bps"] is None else f"{r['measured_bps'] / 1e6:.1f}"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.4f}"
        cpu = "—" if r["cpu_s_per_gb"] is None else f"{r['cpu_s_per_gb']:.2f}"
        lines.append(
            f"| {r['rate_mbit']} Mbit/s | {r['direction']} | {r['tool']} | {meas} | {ratio} |"
            f" {cpu} |"
        )
    lines += [
        "",
        "**Test server capacity** (one nginx, unshaped veth: the machine's CPU is the limit;"
        " N probes at once, each one curl and one connection, 100 MB each):",
        "",
        "| direction | probes | aggregate (Mbit/s) | per probe (Mbit/s) | completed | failures |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in cap:
        fails = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "none"
        lines.append(
            f"| {r['direction']} | {r['probes']} | {r['aggregate_bps'] / 1e6:.0f} |"
            f" {r['per_probe_bps'] / 1e6:.1f} | {r['completed']}/{r['probes']} | {fails} |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
