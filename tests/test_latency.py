from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest

from conftest import free_port
from netmeasure.probe import latency

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


def test_icmp_refused_by_the_system_is_a_clear_failure() -> None:
    if latency.icmp_allowed():
        pytest.skip("this system allows unprivileged ICMP; the ICMP path is tested in the testbed")
    out = latency.run(latency.LatencySpec(target="127.0.0.1", method="icmp", count=2))
    assert out.error == "tool_error" and "ping_group_range" in (out.error_message or "")


def test_stop_interrupts() -> None:
    stop = threading.Event()
    stop.set()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        spec = latency.LatencySpec(target="127.0.0.1", method="tcp", port=listener.getsockname()[1])
        out = latency.run(spec, stop=stop)
    assert out.error == "interrupted"
