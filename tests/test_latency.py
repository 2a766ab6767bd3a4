from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port, wait_for_port
from netmeasure.probe import latency
from netmeasure.store import SampleStore

T = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_jitter_and_loss_are_pure() -> None:
    rtts = [10.0, 12.0, None, 11.0, 15.0]
    # consecutive received: |12-10|, |11-12|, |15-11| -> (2 + 1 + 4) / 3
    assert latency.jitter_ms(rtts) == pytest.approx(7 / 3)
    assert latency.loss_ratio(rtts) == pytest.approx(0.2)
    assert latency.jitter_ms([None, 3.0]) is None
    rows = latency.summarise(rtts, [T] * 5, T)
    assert [r.metric for r in rows] == ["latency"] * 5 + ["jitter", "packet_loss"]
    assert rows[2].ok is False and rows[2].error == "timeout" and rows[2].value is None
    assert rows[-1].value == pytest.approx(0.2)


def test_all_lost_gives_failed_jitter_and_full_loss() -> None:
    rows = latency.summarise([None, None], [T, T], T)
    assert rows[2].metric == "jitter" and not rows[2].ok
    assert rows[3].metric == "packet_loss" and rows[3].value == 1.0


def test_tcp_connect_rtt_on_loopback() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        out = latency.run(
            latency.LatencySpec(
                target="127.0.0.1", method="tcp", port=port, count=10, interval_s=0.01
            )
        )
    assert out.tool == "tcp-connect" and out.error is None
    rtts = [m.value for m in out.measurements if m.metric == "latency"]
    assert len(rtts) == 10 and all(v is not None and 0 < v < 20 for v in rtts)


def test_refused_and_unresolvable() -> None:
    out = latency.run(
        latency.LatencySpec(target="127.0.0.1", method="tcp", port=free_port(), count=3)
    )
    assert out.error == "connect" and all(not m.ok for m in out.measurements)
    out = latency.run(latency.LatencySpec(target="no-such-host.invalid", count=3))
    assert out.error == "dns"


def test_ping_output_parses() -> None:
    reply = (
        "PING 127.0.0.1 (127.0.0.1) 32(60) bytes of data.\n"
        "40 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms\n\n"
        "--- 127.0.0.1 ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss"
    )
    assert latency.parse_ping_rtt_ms(reply) == pytest.approx(0.045)
    assert latency.parse_ping_rtt_ms("64 bytes from x: icmp_seq=1 ttl=64 time<1 ms") == 1.0
    lost = "1 packets transmitted, 0 received, 100% packet loss, time 0ms"
    assert latency.parse_ping_rtt_ms(lost) is None  # "time 0ms" is the run's, not an RTT


# -- where unprivileged ICMP is closed (net.ipv4.ping_group_range = "1 0") -----------------

NOBODY_PATH_WITHOUT_PING = "/nonexistent-netmeasure-bin"

#: Run as an ordinary process: no capabilities at all (so no CAP_NET_RAW), and root not
#: special on exec (securebits noroot) — the system ping keeps its own file capability.
UNPRIVILEGED = [
    "setpriv",
    "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked",
    "--inh-caps=-all",
]


@pytest.fixture
def closed_icmp_ns() -> Iterator[str]:
    """A network namespace of its own, loopback up, unprivileged ICMP sockets closed."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CI"):
            pytest.fail("these tests need root and iproute2")
        pytest.skip("needs root and iproute2 (network namespaces)")
    name = f"nm-icmp-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            ["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0"],
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def in_ns(ns: str, code: str, *, unprivileged: bool = False, path: str | None = None) -> dict:
    """Run Python ``code`` (which prints JSON) in the namespace."""
    prefix = ["ip", "netns", "exec", ns, *(UNPRIVILEGED if unprivileged else [])]
    out = subprocess.run(
        [*prefix, "env", f"PATH={path or os.environ['PATH']}", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


PING_3 = """
import json
from netmeasure.probe import latency
o = latency.run(latency.LatencySpec(target="127.0.0.1", method="{method}", count=3,
                                    interval_s=0.05))
print(json.dumps({{"tool": o.tool, "via": o.via, "error": o.error, "message": o.error_message,
                   "rtts": [m.value for m in o.measurements if m.metric == "latency"],
                   "closed": latency.icmp_allowed()}}))
"""


def test_root_uses_a_raw_icmp_socket_where_ping_sockets_are_closed(closed_icmp_ns: str) -> None:
    got = in_ns(closed_icmp_ns, PING_3.format(method="icmp"))
    assert got["closed"] is False  # the unprivileged ICMP socket really is refused here
    assert got["via"] == "raw socket" and got["tool"] == "icmp" and got["error"] is None
    assert len(got["rtts"]) == 3 and all(0 < r < 50 for r in got["rtts"])


def test_an_unprivileged_process_falls_back_to_the_system_ping(closed_icmp_ns: str) -> None:
    if shutil.which("ping") is None:
        pytest.fail("ping is not installed: 'make test' installs iputils-ping")
    got = in_ns(closed_icmp_ns, PING_3.format(method="icmp"), unprivileged=True)
    assert got["via"] == "ping" and got["tool"] == "icmp" and got["error"] is None
    assert len(got["rtts"]) == 3 and all(0 < r < 50 for r in got["rtts"])


def test_no_way_to_send_icmp_is_a_clear_failure(closed_icmp_ns: str) -> None:
    got = in_ns(
        closed_icmp_ns,
        PING_3.format(method="icmp"),
        unprivileged=True,
        path=NOBODY_PATH_WITHOUT_PING,
    )
    assert got["error"] == "tool_error"
    assert "net.ipv4.ping_group_range = 1" in got["message"]
    assert "CAP_NET_RAW" in got["message"] and "iputils-ping" in got["message"]
    # "auto" then measures TCP connect time instead (here: nothing listens, so it is refused)
    auto = in_ns(
        closed_icmp_ns,
        PING_3.format(method="auto"),
        unprivileged=True,
        path=NOBODY_PATH_WITHOUT_PING,
    )
    assert auto["tool"] == "tcp-connect" and auto["error"] == "connect"


CAMPAIGN = """
[probe]
id = "ns"
store = "{store}"
gpsd = false
modem = false
[[tests]]
type = "iperf3"
server = "127.0.0.1"
port = 5201
direction = "download"
duration = "2s"
omit = "0s"
"""


@pytest.mark.server
@pytest.mark.parametrize("with_ping", [True, False], ids=["system-ping", "no-icmp-at-all"])
def test_latency_under_load_where_ping_sockets_are_closed(
    closed_icmp_ns: str, with_ping: bool
) -> None:
    """As an unprivileged process in the closed namespace, latency under the iperf3 load is measured
    with the system ping; with no way at all, the rows are written failed, with the reason,
    rather than left out."""
    if shutil.which("iperf3") is None or shutil.which("setpriv") is None:
        pytest.fail("iperf3 and setpriv are needed: 'make test' installs them")
    work = Path(tempfile.mkdtemp(prefix="nm-lat-"))
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "iperf3").symlink_to(shutil.which("iperf3") or "iperf3")
    if with_ping:
        (bin_dir / "ping").symlink_to(shutil.which("ping") or "ping")
    store = work / "s.db"
    (work / "c.toml").write_text(CAMPAIGN.format(store=store))
    server = subprocess.Popen(
        ["ip", "netns", "exec", closed_icmp_ns, "iperf3", "-s", "-p", "5201"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(5201, prefix=["ip", "netns", "exec", closed_icmp_ns])
        run = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                closed_icmp_ns,
                *UNPRIVILEGED,
                "env",
                f"PATH={bin_dir}",
                sys.executable,
                "-m",
                "netmeasure",
                "probe",
                "run",
                str(work / "c.toml"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
        )
        assert run.returncode == 0, run.stderr
        with SampleStore(store, create=False) as s:
            rows = list(s.iter_rows())
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work)
    (download,) = [r for r in rows if r["metric"] == "download"]
    assert download["ok"]
    loaded = [r for r in rows if r["metric"] == "latency" and r["under_load"]]
    assert loaded, "latency under load must never be silently absent"
    if with_ping:
        assert all(r["tool"] == "icmp" for r in loaded)
        assert sum(r["ok"] for r in loaded) >= 3
    else:
        assert [(r["ok"], r["error"], r["tool"]) for r in loaded] == [
            (False, "connect", "tcp-connect")
        ]
        assert "latency under load not measured" in run.stderr


def test_stop_interrupts() -> None:
    stop = threading.Event()
    stop.set()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        spec = latency.LatencySpec(target="127.0.0.1", method="tcp", port=listener.getsockname()[1])
        out = latency.run(spec, stop=stop)
    assert out.error == "interrupted"
