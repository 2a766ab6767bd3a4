"""iperf3 outputs of every flag combination Debian's iperf3 (3.12) supports, recorded here
against a real iperf3 server on loopback, import to iperf3's own receiver-side numbers
(issue 11, "Must hold"): TCP and UDP; upload, -R and --bidir; -P 1 and -P 3; -t and -n;
with and without -O. The expected numbers are read from the JSON independently of the
importer: the receiver's sums (``end.sum_received``, and ``sum_received_bidir_reverse`` for
the download of --bidir), bytes × 8 / seconds."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, wait_for_port
from netmeasure.ingest import detect, import_files
from netmeasure.store import SampleStore

COMBINATIONS = list(
    itertools.product(
        ("tcp", "udp"),
        ("upload", "reverse", "bidir"),
        (1, 3),  # -P
        ("time", "bytes"),  # -t 1, or -n
        (False, True),  # -O 1
    )
)


def record(
    tmp_path: Path, proto: str, direction: str, streams: int, length: str, omit: bool
) -> Path:
    if shutil.which("iperf3") is None:
        pytest.fail("iperf3 is not installed: run 'make test', which installs it")
    port = free_port()
    server = subprocess.Popen(
        ["iperf3", "-s", "-1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-J", "-P", str(streams)]
        args += ["-b", "40M"]  # per stream: light on a shared machine, and UDP's pace
        if proto == "udp":
            args.append("-u")
        if direction == "reverse":
            args.append("-R")
        elif direction == "bidir":
            args.append("--bidir")
        args += ["-t", "1"] if length == "time" else ["-n", "3M"]
        if omit:
            args += ["-O", "1"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=30)
    finally:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    name = f"iperf3-{proto}-{direction}-P{streams}-{length}{'-O' if omit else ''}.json"
    path = tmp_path / name
    path.write_text(out.stdout)
    return path


def rate(block: dict[str, Any]) -> float:
    return float(block["bytes"]) * 8 / float(block["seconds"])


@pytest.mark.server
@pytest.mark.parametrize(
    ("proto", "direction", "streams", "length", "omit"),
    COMBINATIONS,
    ids=["-".join(map(str, c)) for c in COMBINATIONS],
)
def test_recorded_iperf3_imports_to_its_receiver_numbers(
    tmp_path: Path, proto: str, direction: str, streams: int, length: str, omit: bool
) -> None:
    path = record(tmp_path, proto, direction, streams, length, omit)
    raw = json.loads(path.read_text())
    assert "error" not in raw, raw.get("error")
    assert raw["start"]["version"].startswith("iperf 3.")
    end = raw["end"]
    blocks = {}
    if direction in ("upload", "bidir"):
        blocks["upload"] = end["sum_received"]
    if direction == "reverse":
        blocks["download"] = end["sum_received"]
    if direction == "bidir":
        blocks["download"] = end["sum_received_bidir_reverse"]

    # A transfer (-n) that ended inside the -O warm-up leaves the receiver nothing measured:
    # a failed sample, never 0 bit/s.
    def nothing(b: dict[str, Any]) -> bool:
        return b["bytes"] == 0 and ((omit and length == "bytes") or b["seconds"] <= 0.01)

    expected: dict[str, float | None] = {
        m: None if nothing(b) else rate(b) for m, b in blocks.items()
    }
    received = end["sum_received"]
    if proto == "udp" and received["packets"] > 0:
        expected["jitter"] = received["jitter_ms"]
        expected["packet_loss"] = max(0, received["lost_packets"]) / received["packets"]
    assert detect(path) == "iperf3"
    with SampleStore(tmp_path / "s.db") as store:
        (result,) = import_files([path], store)
        assert not result.rejected, result.error
        rows = {r["metric"]: r for r in store.iter_rows()}
    assert set(rows) == set(expected)
    for metric, want in expected.items():
        row = rows[metric]
        if want is None:
            assert (row["ok"], row["value"], row["error"]) == (False, None, "tool_error")
        else:
            assert row["ok"] and row["value"] == pytest.approx(want, rel=1e-9), metric
        assert row["streams"] == streams
    assert {r["tool_version"] for r in rows.values()} == {raw["start"]["version"].split()[1]}
