"""speedtest-cli as a library, against a local Speedtest Mini server: nothing leaves loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import speedtest_server
from conftest import Netmeasure, free_port, num, write_campaign
from netmeasure.probe import speedtest
from netmeasure.store import SampleStore


@pytest.fixture
def mini() -> Iterator[tuple[Any, str]]:
    server, url = speedtest_server.start()
    yield server, url
    server.shutdown()


def test_speedtest_against_mini(mini: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    server, url = mini
    # Any attempt to reach a host other than loopback fails the test.
    real = socket.create_connection

    def loopback_only(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        assert address[0] in ("127.0.0.1", "localhost"), f"tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", loopback_only)
    outcome = speedtest.run(speedtest.SpeedtestSpec(mini=url, length_s=1.0))
    assert outcome.error is None, outcome.error_message
    by = {m.metric: m for m in outcome.measurements}
    assert set(by) == {"download", "upload", "latency"}
    assert all(m.ok for m in by.values())
    assert num(by["download"].value) > 1e6 and num(by["upload"].value) > 1e6
    assert 0 < num(by["latency"].value) < 1000
    # the rates are the bytes that crossed the server, over about the test length
    assert server.bytes_sent * 8 / by["download"].value == pytest.approx(1.0, abs=0.9)
    assert outcome.raw["server"]["sponsor"] == "Speedtest Mini"
    # netmeasure records the HTTP round trip, twice speedtest-cli's "ping"
    assert by["latency"].value == pytest.approx(2 * outcome.raw["ping"])


def test_mini_server_down_is_a_failed_sample() -> None:
    url = f"http://127.0.0.1:{free_port()}/speedtest/"
    outcome = speedtest.run(speedtest.SpeedtestSpec(mini=url, timeout_s=2.0))
    assert outcome.error == "connect"
    assert [(m.metric, m.ok, m.error) for m in outcome.measurements] == [
        ("download", False, "connect"),
        ("upload", False, "connect"),
        ("latency", False, "connect"),
    ]


def test_parse_is_pure() -> None:
    spec = speedtest.SpeedtestSpec(mini="http://x/")
    import datetime as dt

    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    out = speedtest.parse({"download": 9.5e7, "upload": 0, "ping": 7.5}, spec, at, "2.1.3")
    assert [(m.metric, m.value, m.ok) for m in out.measurements] == [
        ("download", 9.5e7, True),
        ("upload", None, False),
        ("latency", 15.0, True),
    ]


def test_probe_run_with_speedtest(
    mini: tuple[Any, str], tmp_path: Path, netmeasure: Netmeasure
) -> None:
    _, url = mini
    path = write_campaign(
        tmp_path / "c.toml",
        f"""
[probe]
id = "p"
store = "{tmp_path / "s.db"}"
gpsd = false
modem = false
[[tests]]
type = "speedtest"
mini = "{url}"
length = "1s"
""",
    )
    res = netmeasure("probe", "run", path)
    assert res.exit_code == 0, res.stderr
    with SampleStore(tmp_path / "s.db", create=False) as s:
        got = list(s.iter_rows())
    assert sorted(r["metric"] for r in got) == ["download", "latency", "upload"]
    assert {r["tool"] for r in got} == {"speedtest-cli"} and len({r["test_id"] for r in got}) == 1
    assert all(r["ok"] for r in got)


class _Answer(BaseHTTPRequestHandler):
    status = 503

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_failures_are_classified_never_filed_as_tool_missing() -> None:
    """Real speedtest-cli runs through the runner protocol: each failure gets its class."""
    runner = speedtest.RUNNER
    stop = threading.Event()

    def error_of(url: str, timeout_s: float = 2.0) -> str | None:
        (outcome,) = runner.run(speedtest.SpeedtestSpec(mini=url, timeout_s=timeout_s), stop=stop)
        assert {m.error for m in outcome.measurements} == {outcome.error}
        return outcome.error

    assert error_of("http://no-such-host.invalid/speedtest/") == "dns"
    assert error_of(f"http://127.0.0.1:{free_port()}/speedtest/") == "connect"
    busy = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=busy.serve_forever, daemon=True).start()
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        assert error_of(f"http://127.0.0.1:{busy.server_address[1]}/speedtest/") == "server_busy"
        port = silent.getsockname()[1]
        assert error_of(f"http://127.0.0.1:{port}/speedtest/", timeout_s=1.0) == "timeout"
    finally:
        busy.shutdown()
        silent.close()
    assert speedtest.classify(ValueError("could not parse the configuration")) == "tool_error"
    # only a missing speedtest-cli is tool_missing, and check() finds that before any run
    assert runner.check(speedtest.SpeedtestSpec(mini="http://x/"))[0].status == "ok"


def test_probe_check_fails_an_unreachable_mini(mini) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: probe check passed a Speedtest Mini that could not be reached."""
    from conftest import free_port
    from netmeasure.probe.speedtest import RUNNER, SpeedtestSpec

    _, url = mini
    ok = {r.name: r for r in RUNNER.check(SpeedtestSpec(mini=url, timeout_s=3.0))}
    assert ok["mini"].status == "ok", ok
    down = f"http://127.0.0.1:{free_port()}/speedtest/"  # nothing listens there
    bad = {r.name: r for r in RUNNER.check(SpeedtestSpec(mini=down, timeout_s=3.0))}
    assert bad["mini"].status == "fail" and "Connection refused" in bad["mini"].detail, bad
