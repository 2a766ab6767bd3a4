"""iperf3's session outcomes, as far as its output allows (ETSI TS 102 250-2): a run that had
moved data and then failed is a cut-off; one that never started stays an access failure; a
busy server stays a test-system failure."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import free_port, wait_for_port
from netmeasure.probe import iperf3
from netmeasure.record import ERROR_OUTCOMES

REAL = Path(__file__).parent / "fixtures" / "third-party" / "real-world" / "iperf3"


@pytest.mark.server
@pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs iperf3 (apt iperf3)")
def test_server_killed_mid_transfer_is_a_cutoff() -> None:
    port = free_port()
    server = subprocess.Popen(
        ["iperf3", "--server", "--port", str(port), "--one-off"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        # the server dies 1.5 s into a 5 s download: data had moved, then the session broke
        threading.Timer(1.5, server.send_signal, args=(signal.SIGKILL,)).start()
        spec = iperf3.Iperf3Spec(
            server="127.0.0.1",
            port=port,
            duration_s=5,
            omit_s=0,
            latency_under_load=False,
            udp_rate_bps=1e6,
        )
        result = iperf3.run(spec, "download")
    finally:
        server.kill()
        server.wait(timeout=5)
    assert result.outcome.error == "cutoff", result.outcome.error_message
    assert ERROR_OUTCOMES["cutoff"] == "cutoff"
    assert all(not m.ok and m.error == "cutoff" for m in result.outcome.measurements)
    assert iperf3.moved_data(json.loads(result.raw))


def test_refused_before_any_data_stays_an_access_failure() -> None:
    text = (REAL / "openwisp-3.7-error-refused.json").read_text()
    out = iperf3.parse(text, "download")
    assert out.error == "connect"
    assert ERROR_OUTCOMES[out.error] == "access_failure"


def test_busy_after_data_stays_a_test_system_failure() -> None:
    doc = {
        "start": {},
        "intervals": [{"sum": {"bytes": 1000, "seconds": 1.0}}],
        "end": {},
        "error": "the server is busy running a test. try again later",
    }
    out = iperf3.parse(json.dumps(doc), "download")
    assert out.error == "server_busy"
    assert ERROR_OUTCOMES[out.error] == "test_system"


def test_timeout_after_data_is_a_cutoff_and_before_is_a_timeout() -> None:
    doc: dict[str, object] = {
        "start": {},
        "intervals": [],
        "end": {},
        "error": "control socket read timed out",
    }
    assert iperf3.parse(json.dumps(doc), "upload").error == "timeout"
    doc["intervals"] = [{"sum": {"bytes": 0}}, {"sum": {"bytes": 52000}}]
    assert iperf3.parse(json.dumps(doc), "upload").error == "cutoff"


@pytest.mark.parametrize(
    ("message", "klass"),
    [
        # curl-based tools
        (
            "curl: (28) Operation timed out after 10001 milliseconds with 12345 out of 100000 bytes"
            " received",
            "cutoff",
        ),
        (
            "curl: (28) Operation timed out after 10001 milliseconds with 0 out of 0 bytes"
            " received",
            "timeout",
        ),
        ("curl: (18) transfer closed with 5000 bytes remaining to read", "cutoff"),
        ("curl: (22) The requested URL returned error: 503", "server_busy"),
        ("curl: (22) The requested URL returned error: 502", "server_error"),
        ("curl: (22) The requested URL returned error: 404", "http_error"),
        ("curl: (6) Could not resolve host: speed.example", "dns"),
        (
            "curl: (7) Failed to connect to 192.0.2.1 port 80 after 3 ms: Couldn't connect to"
            " server",
            "connect",
        ),
        ("curl: (60) SSL certificate problem: self-signed certificate", "connect"),
        # speedtest-cli (urllib) and Ookla
        ("HTTP Error 503: Service Unavailable", "server_busy"),
        ("HTTP Error 500: Internal Server Error", "server_error"),
        ("HTTP Error 403: Forbidden", "http_error"),
        ("Upload - Cannot write: Broken pipe", "cutoff"),
        (
            "Configuration - Could not retrieve or read configuration (ConfigurationError)",
            "connect",
        ),
    ],
)
def test_imported_failures_map_to_the_same_outcomes(message: str, klass: str) -> None:
    from netmeasure.ingest.base import classify_failure

    assert classify_failure(message) == klass


def test_imported_iperf3_cut_off_keeps_its_class(tmp_path: Path) -> None:
    from test_import import rows_of

    doc = {
        "start": {"test_start": {"protocol": "TCP", "reverse": 1, "num_streams": 1}},
        "intervals": [{"sum": {"bytes": 5_000_000, "seconds": 1.0}}],
        "end": {},
        "error": "control socket has closed unexpectedly",
    }
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(doc))
    (row,) = rows_of(path, "iperf3")
    assert (row["metric"], row["ok"], row["error"]) == ("download", False, "cutoff")
