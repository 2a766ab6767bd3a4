"""netmeasure import: every fixture to the values its source shows, idempotence, one
transaction per file, bad files, and every parser under mutated input (hypothesis)."""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Netmeasure
from netmeasure.errors import ParseError
from netmeasure.ingest import PARSERS, detect, import_files
from netmeasure.ingest.base import Origin, Overrides, Skipped
from netmeasure.ingest.mapped_csv import load_mapping
from netmeasure.ingest.mapped_csv import parse as parse_mapped
from netmeasure.store import SampleStore

FX = Path(__file__).parent / "fixtures"
OOKLA = FX / "ookla" / "ookla-cli-official.json"
NDT7 = FX / "ndt7" / "ndt7-client-0.10-json.jsonl"
MURAKAMI_NDT7 = FX / "murakami" / "murakami-ndt7.jsonl"
MURAKAMI_ST = FX / "murakami" / "murakami-speedtest-cli-multi-stream.jsonl"
ST_JSON = FX / "speedtest-cli" / "speedtest-cli-2.1.3-mini.json"
ST_CSV = FX / "speedtest-cli" / "speedtest-cli-2.1.3-mini.csv"
ST_CSV_NOHEAD = FX / "speedtest-cli" / "speedtest-cli-2.1.3-mini-noheader.csv"
DRIVE = FX / "generic-csv" / "drive-test.csv"
MAPPING = FX / "generic-csv" / "drive-test.mapping.toml"
IPERF3 = sorted((FX / "iperf3").glob("iperf3-*.json"))

DETECTED = {
    OOKLA: "ookla",
    NDT7: "ndt7",
    MURAKAMI_NDT7: "murakami",
    MURAKAMI_ST: "murakami",
    ST_JSON: "speedtest-cli-json",
    ST_CSV: "speedtest-cli-csv",
    ST_CSV_NOHEAD: "speedtest-cli-csv",
    **{p: "iperf3" for p in IPERF3},
}


@pytest.mark.parametrize("path", list(DETECTED), ids=lambda p: p.name)
def test_detection(path: Path) -> None:
    assert detect(path) == DETECTED[path]


def rows_of(path: Path, fmt: str | None = None, **over: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp, SampleStore(Path(tmp) / "s.db") as store:
        (r,) = import_files([path], store, fmt=fmt, overrides=Overrides(**over))
        assert not r.rejected, r.error
        return list(store.iter_rows())


def by_metric(rows: list[dict]) -> dict[str, dict]:
    return {r["metric"]: r for r in rows}


def test_ookla_bytes_per_second_become_bits() -> None:
    m = by_metric(rows_of(OOKLA))
    assert m["download"]["value"] == 211_521_496  # 26,440,187 B/s
    assert m["upload"]["value"] == 29_515_302 * 8
    assert m["latency"]["value"] == 8.99 and m["jitter"]["value"] == 1.796
    assert m["packet_loss"]["value"] == 0.0
    assert m["download"]["duration_s"] == 10.615
    assert m["download"]["target"] == "speedtest.itv-3.com:8080"
    assert m["download"]["started_at"] == "2022-10-20T16:13:01.000000Z"
    assert m["download"]["tool"] == "import:ookla" and m["download"]["source"].endswith(":1")


def test_murakami_records() -> None:
    m = by_metric(rows_of(MURAKAMI_NDT7))
    assert m["download"]["value"] == pytest.approx(13.907644425550366e6, rel=1e-15)
    assert m["upload"]["value"] == pytest.approx(3.5534953544473233e6, rel=1e-15)
    assert m["latency"]["value"] == 10.583
    s = by_metric(rows_of(MURAKAMI_ST))
    assert s["download"]["value"] == 6666674.437897755
    assert s["upload"]["value"] == 1665432.7276635137
    # speedtest-cli's ping is half the HTTP round trip: recorded as the round trip
    assert s["latency"]["value"] == pytest.approx(2 * 35.839)


def test_ndt7_summary() -> None:
    m = by_metric(rows_of(NDT7, probe_id="pi-7"))
    assert m["download"]["value"] == pytest.approx(203.46e6)
    assert m["upload"]["value"] == pytest.approx(41.93e6)
    assert m["latency"]["value"] == 24.312
    assert m["download"]["probe_id"] == "pi-7"
    assert m["download"]["target"] == "ndt-mlab1-han01.mlab-oti.measurement-lab.org"


@pytest.mark.parametrize("path", [ST_JSON, ST_CSV, ST_CSV_NOHEAD], ids=lambda p: p.name)
def test_speedtest_cli_outputs(path: Path) -> None:
    m = by_metric(rows_of(path))
    if path.suffix == ".json":
        src = json.loads(path.read_text())
        down, up, ping = src["download"], src["upload"], src["ping"]
    else:
        cells = path.read_text().strip().splitlines()[-1].split(",")
        ping, down, up = float(cells[5]), float(cells[6]), float(cells[7])
    assert m["download"]["value"] == pytest.approx(down, rel=1e-15)
    assert m["upload"]["value"] == pytest.approx(up, rel=1e-15)
    assert m["latency"]["value"] == pytest.approx(2 * ping)


@pytest.mark.parametrize("path", IPERF3, ids=lambda p: p.name)
def test_iperf3_outputs(path: Path) -> None:
    raw = json.loads(path.read_text())
    got = rows_of(path)
    if raw.get("error"):
        assert all(not r["ok"] and r["value"] is None for r in got)
        return
    m = by_metric(got)
    end = raw["end"]
    if "upload" in m:
        assert m["upload"]["value"] == pytest.approx(
            end["sum_received"]["bits_per_second"], rel=1e-6
        )
    if "download" in m:
        key = "sum_received_bidir_reverse" if "bidir" in path.name else "sum_received"
        assert m["download"]["value"] == pytest.approx(end[key]["bits_per_second"], rel=1e-6)
    assert all(r["tool_version"] == "3.12" for r in got)


def test_mapped_csv() -> None:
    mapping = load_mapping(MAPPING)
    rows = list(parse_mapped(Origin(DRIVE, "csv"), Overrides(), mapping))
    assert len(rows) == 12
    first = rows[0]
    assert first.metric == "download" and first.value == pytest.approx(312.4e6)
    assert first.started_at.isoformat() == "2026-11-23T01:00:05+00:00"  # 08:00 in Ha Noi
    assert (first.probe_id, first.operator, first.technology) == ("car-01", "45204", "5G-NSA")
    assert first.rsrp_dbm == -88.5 and first.environment == "outdoor_mobile"
    failed = [r for r in rows if not r.ok]
    assert len(failed) == 3 and {r.metric for r in failed} == {"download", "upload", "latency"}
    assert rows[2].value == pytest.approx(21.3)  # latency in ms stays ms


def test_import_is_idempotent_and_counts(tmp_path: Path, netmeasure: Netmeasure) -> None:
    store = tmp_path / "s.db"
    files = [OOKLA, MURAKAMI_NDT7, *IPERF3[:3]]
    res = netmeasure("import", *files, "--store", store, "--operator", "Viettel")
    assert res.exit_code == 0, res.stderr
    with SampleStore(store, create=False) as s:
        n = s.counts().total
    res = netmeasure("import", *files, "--store", store, "--operator", "Viettel")
    assert res.exit_code == 0 and f"0 sample(s) imported, {n} already present" in res.stdout
    copy = tmp_path / "copy-of-ookla.json"
    copy.write_bytes(OOKLA.read_bytes())
    res = netmeasure("import", copy, "--store", store, "--operator", "Viettel")
    assert "0 sample(s) imported" in res.stdout  # the same content from another path


def test_a_bad_file_is_skipped_whole(tmp_path: Path, netmeasure: Netmeasure) -> None:
    lines = MURAKAMI_NDT7.read_text().strip()
    bad = tmp_path / "three.jsonl"
    good_line = json.loads(lines)
    other = dict(good_line, TestStartTime="2021-09-09T10:00:00")
    bad.write_text(lines + "\n" + json.dumps(other) + '\n{"TestName": "ndt7", broken\n')
    store = tmp_path / "s.db"
    res = netmeasure("import", bad, OOKLA, "--store", store)
    assert res.exit_code == 1
    assert f"{bad}:3" in res.stderr and "Traceback" not in res.stderr
    with SampleStore(store, create=False) as s:
        tools = {r["tool"] for r in s.iter_rows()}
    assert tools == {"import:ookla"}  # nothing of the bad file, all of the good one


def big_sparse(tmp_path: Path) -> Path:
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.write(b'{"start": {')
        fh.truncate(1024**3)  # 1 GB, sparse: costs no disk
    return path


@pytest.mark.parametrize(
    ("make", "fmt", "problem"),
    [
        (lambda t: _write(t, "trunc.json", OOKLA.read_bytes()[:150]), None, "not JSON"),
        (lambda t: _write(t, "wrong.json", OOKLA.read_bytes()), "iperf3", "no 'end' section"),
        (lambda t: _write(t, "empty.json", b""), None, "empty file"),
        (lambda t: _write(t, "garbage.bin", random.Random(1).randbytes(4096)), None, "binary"),
        (big_sparse, None, "binary data"),
        (big_sparse, "iperf3", "too large"),
        (
            lambda t: _write(t, "x.csv", b"Time,Device\n23/11/2026 08:00:05,car\n"),
            "csv",
            "missing column",
        ),
    ],
)
def test_bad_files_get_a_clear_error(
    tmp_path: Path,
    make: Callable[[Path], Path],
    fmt: str | None,
    problem: str,
    netmeasure: Netmeasure,
) -> None:
    path = make(tmp_path)
    args = ["import", path, "--store", tmp_path / "s.db"]
    if fmt:
        args += ["--format", fmt]
    if fmt == "csv":
        args += ["--mapping", MAPPING]
    res = netmeasure(*args)
    assert res.exit_code == 1, res.stdout
    assert str(path) in res.stderr and problem in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    with SampleStore(tmp_path / "s.db", create=False) as s:
        assert s.counts().total == 0


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


MEAN_DL = """[standard]
id = "dl-mean-any-tool"
title = "Mean download of any tool (QCVN 126 reads only curl file transfers)"
technology = ["5G-SA", "5G-NSA"]

[[criteria]]
id = "dl-mean"
metric = "download"
statistic = "mean"
op = ">="
threshold = "100 Mbit/s"
"""


def test_export_partitioned_and_evaluate_reads_it_back(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    store = tmp_path / "s.db"
    assert netmeasure("import", DRIVE, "--mapping", MAPPING, "--store", store).exit_code == 0
    out = tmp_path / "ds"
    res = netmeasure(
        "samples",
        "export",
        "--store",
        store,
        "--format",
        "parquet",
        "--partition-by",
        "day,operator",
        "-o",
        out,
    )
    assert res.exit_code == 0 and (out / "day=2026-11-23" / "operator=45204").is_dir()
    std = tmp_path / "dl-mean.toml"  # a mean over any tool: the import's rows are not curl's
    std.write_text(MEAN_DL)
    res = netmeasure("evaluate", "--standard", std, "--json", out)
    data = json.loads(res.stdout)
    g = data["groups"][0]
    assert g["excluded"]["technology"] == 3  # the LTE row's three samples
    dl = next(c for c in g["criteria"] if c["id"] == "dl-mean")
    assert dl["n"] == 2 and dl["estimate"] == pytest.approx((312.4e6 + 287.9e6) / 2)


# -- every parser under mutated input ---------------------------------------------------------

TP = FX / "third-party"
SEEDS = {
    "iperf3": IPERF3[5],
    "ookla": OOKLA,
    "ndt7": NDT7,
    "murakami": MURAKAMI_ST,
    "speedtest-cli-json": ST_JSON,
    "speedtest-cli-csv": ST_CSV,
    "librespeed-json": TP / "real-world" / "other" / "librespeed-cli-issue24.json",
    "librespeed-csv": TP / "found" / "librespeed-cli-1.0.10-issue78.csv",
    "mlab-ndt-json": TP / "found" / "mlab-ndt-unified_downloads-constructed.json",
    "mlab-ndt-csv": TP / "found" / "mlab-ndt-unified_uploads-constructed.csv",
    "netmeasure-jsonl": None,
    "netmeasure-csv": None,
    "netmeasure-parquet": None,
}


@pytest.fixture(scope="module")
def native_seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from netmeasure.export import write_csv, write_jsonl, write_parquet

    rows = rows_of(OOKLA)
    d = tmp_path_factory.mktemp("native")
    with (d / "x.jsonl").open("w") as fh:
        write_jsonl(rows, fh)
    with (d / "x.csv").open("w") as fh:
        write_csv(rows, fh)
    write_parquet(rows, d / "x.parquet")
    return {
        "netmeasure-jsonl": d / "x.jsonl",
        "netmeasure-csv": d / "x.csv",
        "netmeasure-parquet": d / "x.parquet",
    }


mutation = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "insert", "delete"]),
        st.floats(0, 1),
        st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops: list) -> bytes:
    for op, where, blob in ops:
        i = int(where * len(data))
        if op == "flip" and data:
            i = min(i, len(data) - 1)
            data = data[:i] + bytes([data[i] ^ blob[0]]) + data[i + 1 :]
        elif op == "cut":
            data = data[:i]
        elif op == "insert":
            data = data[:i] + blob + data[i:]
        else:
            data = data[:i] + data[i + len(blob) :]
    return data


@pytest.mark.parametrize("fmt", list(PARSERS))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=mutation)
def test_parsers_parse_or_raise_their_own_error(
    fmt: str, ops: list, native_seeds: dict[str, Path]
) -> None:
    seed = SEEDS[fmt] or native_seeds[fmt]
    data = mutate(seed.read_bytes(), ops)
    # The seed's name (M-Lab rows take their direction from it), in a folder of its own.
    folder = tempfile.mkdtemp()
    name = os.path.join(folder, seed.name)
    try:
        with open(name, "wb") as fh:
            fh.write(data)
        try:
            for record in PARSERS[fmt](Origin(Path(name), fmt), Overrides()):
                assert isinstance(record, Skipped) or (record.metric and record.tool)
        except ParseError:
            pass
    finally:
        os.unlink(name)
        os.rmdir(folder)
