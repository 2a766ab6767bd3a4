"""The http runner against the shipped test server (Debian's nginx) on a tbf-shaped namespace
link: per-transfer rate = R x 1448/1514 after the transfer's own first-data point, and the same
as raw curl beside it; 50 probes against one server at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_testbed, netmeasure_cmd, write_campaign
from netmeasure.record import ERROR_OUTCOMES
from netmeasure.store import SampleStore
from netmeasure.testbed import expected_tcp_goodput_bps
from nginx_server import nginx_missing, remove_server, server_prefix, start_nginx

pytestmark = [
    pytest.mark.testbed,
    pytest.mark.skipif(nginx_missing() is not None, reason=str(nginx_missing())),
]

#: Per rate: the tbf burst, the object of a 1-connection transfer and of each of 4 (~2.5 s).
#: The burst is small against the object (the first burst leaves at line rate and reads as
#: rate: 128 kB of 30 MB is +0.4 %) and at least 128 kB: tbf splits in software any GSO
#: packet (up to 64 kB) larger than its burst, which cost 8-16 CPU s per GB at 32-64 kB.
CASES = {
    100: ("128kb", "30MB", "8MB"),
    500: ("128kb", "150MB", "40MB"),
    2000: ("256kb", "600MB", "150MB"),
}

#: The probes (raw curl, the runner) and nginx run on SCHED_FIFO: on a 2-core machine shared
#: with other work, an ordinary process is descheduled for tens of ms at a time and the link
#: idles meanwhile (raw curl at 100 Mbit/s read 0.964 to 0.989 of theory from run to run under
#: a load of 16); the link, not the neighbours, is what is measured.
RT = ("chrt", "-f", "10")

#: Raw curl as the runner runs it, one JSON line per transfer.
RAW = ("curl", "-q", "-s", "--http1.1", "--noproxy", "*", "-H", "Expect:", "-w", "%{json}\\n")


def raw_curl(tb, url: str, body: str | None, n: int) -> float:  # type: ignore[no-untyped-def]
    args = [*RAW]
    if n > 1:
        args += ["--parallel", "--parallel-immediate", "--parallel-max", str(n)]
    for _ in range(n):
        args += ["-o", "/dev/null", *(["-T", body] if body else []), url]
    out = subprocess.run(tb.client_cmd([*RT, *args]), capture_output=True, text=True, timeout=120)
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(d["exitcode"], d["http_code"] // 100) for d in docs] == [(0, 2)] * n, out.stdout
    first_key = "time_pretransfer" if body else "time_starttransfer"
    first = min(d[first_key] for d in docs)
    last = max(d["time_total"] for d in docs)
    moved = sum(d["size_upload" if body else "size_download"] for d in docs)
    return float(moved * 8 / (last - first))


CAMPAIGN = """
[probe]
id = "tb"
store = "{store}"
gpsd = false
modem = false
[schedule]
rounds = 1
min_spacing = "0s"
"""

TEST = """
[[tests]]
type = "http"
url = "{url}"
direction = "{direction}"
size = "{size}"
connections = {n}
"""


@pytest.fixture
def cleanup() -> Iterator[list[Path]]:
    dirs: list[Path] = []
    yield dirs
    for d in dirs:
        remove_server(d)


@pytest.mark.parametrize("rate_mbit", sorted(CASES))
def test_http_runner_matches_theory_and_raw_curl(
    tmp_path: Path, rate_mbit: int, cleanup: list[Path]
) -> None:
    burst, one, four = CASES[rate_mbit]
    cases = [(d, n) for n in (1, 4) for d in ("download", "upload")]
    with make_testbed(None) as tb:
        tb.burst = burst
        for ns, dev in ((tb.client_ns, "vc"), (tb.server_ns, "vs")):
            tb.shape(ns, dev, rate_mbit)
        srv = server_prefix()
        cleanup.append(srv)
        start_nginx(tb, srv, [one, four], realtime=True)
        base = f"http://{tb.server_addr}"
        store = tmp_path / "s.db"
        body = CAMPAIGN.format(store=store)
        for direction, n in cases:
            size = one if n == 1 else four
            url = f"{base}/files/{size}" if direction == "download" else f"{base}/upload"
            body += TEST.format(url=url, direction=direction, size=size, n=n)
        path = write_campaign(tmp_path / "c.toml", body)

        def raw_all() -> dict[tuple[str, int], float]:
            out = {}
            for direction, n in cases:
                size = one if n == 1 else four
                if direction == "download":
                    out[(direction, n)] = raw_curl(tb, f"{base}/files/{size}", None, n)
                else:
                    out[(direction, n)] = raw_curl(
                        tb, f"{base}/upload", str(srv / "files" / size), n
                    )
            return out

        # raw curl and the runner in turn, three times: on a shared machine the rate a veth
        # and tbf reach moves by a few per cent from minute to minute, and the runner must
        # agree with the tool at that moment (as test_testbed.py does for iperf3)
        raws = []
        for _ in range(3):
            raws.append(raw_all())
            probe = subprocess.run(
                tb.client_cmd([*RT, *netmeasure_cmd("probe", "run", str(path))]),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert probe.returncode == 0, probe.stderr
    with SampleStore(store, create=False) as s:
        got = list(s.iter_rows())
    expected = expected_tcp_goodput_bps(rate_mbit * 1e6)
    rates = [r for r in got if r["metric"] in ("download", "upload")]
    assert len(rates) == 3 * len(cases)
    assert all(r["ok"] and r["tool"] == "curl" for r in rates), rates
    report = []
    cpu_bound = []
    for direction, n in cases:
        # Best of three, for the runner and for raw curl: the machine's other work can only slow
        # a transfer down (a descheduled receiver idles the link), never speed it up, so the
        # fastest of three runs is the closer to what the link carries.
        runner = max(r["value"] for r in rates if r["metric"] == direction and r["streams"] == n)
        raw = max(r[(direction, n)] for r in raws)
        report.append(
            f"{direction} x{n}: runner {runner / expected:.4f}, raw curl {raw / expected:.4f}"
            " of theory (best of three each)"
        )
        agrees = runner / raw == pytest.approx(1.0, abs=0.01)
        # raw curl below the shaped rate in all three runs: the CPU (other work on the
        # machine), not the link, set raw curl's rate at those moments
        raw_short = raw < 0.99 * expected
        if runner / expected == pytest.approx(1.0, abs=0.01):
            assert agrees or raw_short, report[-1]
            continue
        # the runner missed the link: excused only when raw curl missed it too, alike
        assert raw_short and agrees, report[-1]
        cpu_bound.append(report[-1])
    delays = [r for r in got if r["metric"] == "access_delay"]
    assert len(delays) == 3 * (1 + 4)  # the downloads' transfers, one row each, per round
    assert all(r["ok"] and 0 < r["value"] < 100 for r in delays)
    print("\n".join(report))
    if cpu_bound:
        pytest.skip(
            f"at {rate_mbit} Mbit/s this machine's CPU, not the link, limited raw curl too "
            f"(the runner still agreed with raw curl within 1 %): {'; '.join(cpu_bound)}"
        )


def test_fifty_probes_share_one_server(tmp_path: Path, cleanup: list[Path]) -> None:
    """50 concurrent probes (each its own curl, 1 connection) against one nginx on a
    500 Mbit/s link: every transfer completes, and the rates add up to the link."""
    rate_mbit = 500
    n_probes = 50
    with make_testbed(None) as tb:
        tb.burst = "64kb"
        for ns, dev in ((tb.client_ns, "vc"), (tb.server_ns, "vs")):
            tb.shape(ns, dev, rate_mbit)
        srv = server_prefix()
        cleanup.append(srv)
        start_nginx(tb, srv, ["8MB"], realtime=True)
        url = f"http://{tb.server_addr}/files/8MB"
        # Each probe is its own curl with the runner's command line and parse; the curl is
        # waited for in a blocking wait, so that the wall time at its exit places its trigger
        # points on one clock (curl reports times from its own start, and anchoring at the
        # start would add the time 50 threads take to start 50 processes).
        script = (
            "import json, subprocess, threading, time\n"
            "from netmeasure.probe import http\n"
            f"spec = http.HttpSpec(url={url!r}, size_bytes=8e6, timeout_s=120)\n"
            f"go = threading.Barrier({n_probes})\n"
            f"out = [None] * {n_probes}\n"
            "def one(i):\n"
            "    cmd = http.build_command(spec)\n"
            "    go.wait()\n"
            "    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)\n"
            "    t_exit = time.time()\n"
            "    o = http.parse(done.stdout, direction='download', connections=1,\n"
            "                   expected_size=8_000_000)\n"
            "    (t,) = o.transfers\n"
            "    start = t_exit - json.loads(done.stdout)['time_total']\n"
            "    out[i] = dict(error=o.error, value=o.measurements[0].value, bytes=t.bytes,\n"
            "                  first=start + (t.first_data_s or 0), last=t_exit)\n"
            f"ts = [threading.Thread(target=one, args=(i,)) for i in range({n_probes})]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "print(json.dumps(out))\n"
        )
        done = subprocess.run(
            tb.client_cmd([*RT, sys.executable, "-c", script]),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    errors = [r["error"] for r in results if r["error"]]
    assert not [e for e in errors if ERROR_OUTCOMES[e] == "test_system"], errors
    assert errors == []
    # all 50 ran at once: their bytes over the span they shared is the link's rate
    assert sum(r["bytes"] for r in results) == n_probes * 8_000_000
    # ETSI's multi-connection rate over the 50: all bytes / (last last data - first first data)
    start = min(r["first"] for r in results)
    end = max(r["last"] for r in results)
    aggregate = n_probes * 8e6 * 8 / (end - start)
    expected = expected_tcp_goodput_bps(rate_mbit * 1e6)
    print(f"50 probes: {aggregate / expected:.4f} of theory over {end - start:.2f} s")
    assert aggregate / expected == pytest.approx(1.0, abs=0.02), (aggregate / expected, end - start)
    # no transfer is faster than the link (a probe that starts late or ends last has more
    # of it to itself, so the shares are not equal on a loaded machine)
    assert all(0 < r["value"] <= expected * 1.01 for r in results), sorted(
        round(r["value"] / expected, 3) for r in results
    )
