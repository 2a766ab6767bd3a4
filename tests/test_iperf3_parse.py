"""The iperf3 parser over every recorded output in fixtures/iperf3 (recorded by record.sh from
the real iperf3; the version is in each file name)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from netmeasure.errors import ParseError
from netmeasure.probe import iperf3

FOLDER = Path(__file__).parent / "fixtures" / "iperf3"
FILES = sorted(FOLDER.glob("iperf3-*.json"))

# case -> (run kind, metrics expected, error class or None)
CASES = {
    "tcp-upload": ("upload", ["upload"], None),
    "tcp-download": ("download", ["download"], None),
    "tcp-download-p4": ("download", ["download"], None),
    "tcp-bidir": ("bidir", ["download", "upload"], None),
    "udp-upload": ("upload", ["upload", "jitter", "packet_loss"], None),
    "udp-download": ("download", ["download", "jitter", "packet_loss"], None),
    "refused": ("download", ["download"], "connect"),
    "busy": ("download", ["download"], "server_busy"),
    "dns": ("download", ["download"], "dns"),
}


def case_of(path: Path) -> str:
    match = re.match(r"iperf3-[\d.]+-(.+)\.json$", path.name)
    assert match, path.name
    return match.group(1)


def test_every_fixture_has_an_expectation() -> None:
    assert FILES, "no iperf3 fixtures"
    assert {case_of(p) for p in FILES} <= set(CASES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_parses_to_receiver_side_values(path: Path) -> None:
    kind, metrics, error = CASES[case_of(path)]
    raw = json.loads(path.read_text())
    outcome = iperf3.parse(path.read_text(), kind, source=str(path))
    assert [m.metric for m in outcome.measurements] == metrics
    assert outcome.error == error
    if error:
        assert all(not m.ok and m.value is None and m.error == error for m in outcome.measurements)
        assert outcome.error_message == raw["error"]
        return
    assert outcome.version == raw["start"]["version"].split()[1]
    end = raw["end"]
    for m in outcome.measurements:
        assert m.ok
        if m.metric == "upload":
            assert m.value == pytest.approx(end["sum_received"]["bits_per_second"], rel=1e-6)
            assert m.duration_s == pytest.approx(end["sum_received"]["seconds"])
        elif m.metric == "download":
            key = "sum_received_bidir_reverse" if kind == "bidir" else "sum_received"
            assert m.value == pytest.approx(end[key]["bits_per_second"], rel=1e-6)
        elif m.metric == "jitter":
            assert m.value == pytest.approx(end["sum_received"]["jitter_ms"])
        elif m.metric == "packet_loss":
            s = end["sum_received"]
            assert m.value == pytest.approx(s["lost_packets"] / s["packets"])


def test_omitted_warmup_is_not_counted() -> None:
    # The -O 1 run's first interval is flagged omitted; the result covers the 3 s after it.
    path = FOLDER / "iperf3-3.12-tcp-download.json"
    raw = json.loads(path.read_text())
    assert raw["intervals"][0]["sum"]["omitted"] is True
    outcome = iperf3.parse(path.read_text(), "download")
    measured = [i["sum"] for i in raw["intervals"] if not i["sum"]["omitted"]]
    total_bits = sum(i["bytes"] for i in measured) * 8
    seconds = sum(i["seconds"] for i in measured)
    assert outcome.measurements[0].value == pytest.approx(total_bits / seconds, rel=0.01)
    assert outcome.measurements[0].duration_s == pytest.approx(3.0, abs=0.05)


def test_parallel_streams_are_summed() -> None:
    outcome = iperf3.parse((FOLDER / "iperf3-3.12-tcp-download-p4.json").read_text(), "download")
    assert outcome.streams == 4


def test_old_udp_output_without_sum_received_uses_sum_less_loss() -> None:
    # iperf3 < 3.10 prints only "sum" for UDP: the sender's rate with the receiver's loss.
    old = {
        "start": {"version": "iperf 3.1.3", "test_start": {"protocol": "UDP", "num_streams": 1}},
        "end": {
            "sum": {
                "start": 0,
                "end": 10.0,
                "seconds": 10.0,
                "bytes": 12_500_000,
                "bits_per_second": 10e6,
                "jitter_ms": 0.5,
                "lost_packets": 10,
                "packets": 1000,
                "lost_percent": 1.0,
            }
        },
    }
    outcome = iperf3.parse(json.dumps(old), "upload")
    by = {m.metric: m.value for m in outcome.measurements}
    assert by["upload"] == pytest.approx(10e6 * 0.99)
    assert by["jitter"] == 0.5
    assert by["packet_loss"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("message", "klass"),
    [
        ("the server is busy running a test. try again later", "server_busy"),
        ("unable to connect to server: Connection refused", "connect"),
        ("unable to connect to server: Name or service not known", "dns"),
        (
            "unable to connect to server - server may have stopped running or use a different "
            "port, firewall issue, etc.: Connection timed out",
            "timeout",
        ),
        ("unable to connect to server: No route to host", "connect"),
        ("interrupt - the client has terminated", "interrupted"),
        ("something new and strange", "tool_error"),
    ],
)
def test_error_classes(message: str, klass: str) -> None:
    assert iperf3.classify_error(message) == klass


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"start": {}}', '{"end": {}}'])
def test_garbage_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        iperf3.parse(text, "download", source="x.json")


def test_command_line() -> None:
    spec = iperf3.Iperf3Spec(server="192.0.2.1", port=5202, streams=4, omit_s=2, duration_s=10)
    cmd = iperf3.build_command(spec, "download")
    assert cmd[:3] == ["iperf3", "--client", "192.0.2.1"]
    assert "--reverse" in cmd and cmd[cmd.index("--parallel") + 1] == "4"
    assert cmd[cmd.index("--omit") + 1] == "2" and "--json" in cmd
    assert "--bidir" in iperf3.build_command(spec, "bidir")
    assert "--reverse" not in iperf3.build_command(spec, "upload")
