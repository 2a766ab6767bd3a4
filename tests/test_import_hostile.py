"""netmeasure import under hostile and broken inputs (issue 12): each crashing input of the
issue as a regression test, folders with links, literal names, and Hypothesis fuzzing of
every format through the whole import ("a result or a clear error, never an internal
error")."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Netmeasure
from netmeasure.errors import ExitStatus
from netmeasure.ingest import import_files
from netmeasure.store import SampleStore

FX = Path(__file__).parent / "fixtures"
TP = FX / "third-party"
OOKLA = FX / "ookla" / "ookla-cli-official.json"
IPERF3 = FX / "iperf3" / "iperf3-3.12-tcp-download.json"
MURAKAMI = FX / "murakami" / "murakami-ndt7.jsonl"


def native_line(**change: Any) -> str:
    row = {
        "sample_id": "s-1",
        "test_id": "t-1",
        "probe_id": "p",
        "started_at": "2026-01-02T03:04:05Z",
        "metric": "download",
        "value": 1e6,
        "ok": True,
        "tool": "iperf3",
    }
    row.update(change)
    return json.dumps(row)


def ookla_with(**change: Any) -> str:
    doc = json.loads(OOKLA.read_text())
    doc.update(change)
    return json.dumps(doc)


# Each crashing input of issue 12: (file name, content, what the message must say).
HOSTILE = [
    ("streams-nan.jsonl", native_line().replace('"tool"', '"streams": NaN, "tool"'), "streams"),
    (
        "year-9999.jsonl",
        native_line(started_at="9999-12-31T23:30:00-05:00"),
        "outside the years 1 to 9999",
    ),
    (
        "epoch-1e20.json",
        IPERF3.read_text().replace('"timesecs":', '"timesecs": 1e20, "x":', 1),
        "out of range",
    ),
    # a number in the sample record's started_at is refused as such (issue 26: one reading
    # of a numeric started_at everywhere; evaluate refuses the column too)
    ("epoch-1e20-native.jsonl", native_line(started_at=1e20), "is a number, not a time"),
    (
        "surrogate.json",
        ookla_with(isp="x").replace('"speedtest.itv-3.com"', '"\\ud800"'),
        "lone surrogate",
    ),
    ("surrogate.jsonl", native_line(probe_id="\ud800"), "lone surrogate"),
    ("digits.json", ookla_with().replace("26440187", "9" * 5000), "not JSON"),
    ("digits.jsonl", native_line().replace("1000000.0", "9" * 5000), "not JSON"),
    ("big-float.jsonl", native_line().replace("1000000.0", "9" * 400), "number too large"),
]


def test_hostile_files_are_reported_by_name_and_the_rest_imported(
    tmp_path: Path,
    netmeasure: Netmeasure,
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-good.json").write_bytes(OOKLA.read_bytes())
    for name, text, _ in HOSTILE:
        (folder / f"m-{name}").write_text(text, encoding="utf-8", errors="surrogatepass")
    (folder / "z-good.jsonl").write_bytes(MURAKAMI.read_bytes())
    store = tmp_path / "s.db"
    res = netmeasure("import", folder, "--store", store)
    assert res.exit_code == ExitStatus.FAIL, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    for name, _, said in HOSTILE:
        line = next(ln for ln in res.stderr.splitlines() if f"m-{name}" in ln)
        assert said in line, line
    with SampleStore(store, create=False) as s:
        tools = sorted({r["tool"] for r in s.iter_rows()})
    assert tools == ["import:murakami", "import:ookla"]  # the files before and after
    assert f"{len(HOSTILE)} file(s) rejected" in res.stdout


def test_native_lines_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(native_line() + "\n" + native_line(sample_id="s-2", started_at=1e20) + "\n")
    with SampleStore(tmp_path / "s.db") as store:
        (r,) = import_files([path], store)
        assert r.rejected and f"{path}:2:" in (r.error or ""), r.error
        assert store.counts().total == 0  # one transaction per file


def test_crlf_copy_of_an_iperf3_file_adds_nothing(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.json"
    crlf.write_bytes(IPERF3.read_bytes().replace(b"\n", b"\r\n"))
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(json.loads(IPERF3.read_text())))
    with SampleStore(tmp_path / "s.db") as store:
        first, *again = import_files([IPERF3, crlf, compact], store)
        assert first.imported > 0
        assert [(r.imported, r.duplicates) for r in again] == [(0, first.imported)] * 2


def test_file_names_are_literal_never_glob_patterns(tmp_path: Path, netmeasure: Netmeasure) -> None:
    (tmp_path / "a*.json").write_bytes(OOKLA.read_bytes())
    (tmp_path / "ab.json").write_bytes(MURAKAMI.read_bytes())
    res = netmeasure("import", tmp_path / "a*.json", "--store", tmp_path / "s.db")
    assert res.exit_code == 0 and "1 file(s)" in res.stdout, res.stdout
    res = netmeasure("import", tmp_path / "a?.json", "--store", tmp_path / "s.db")
    assert res.exit_code == ExitStatus.ERROR and "no such file" in res.stderr


def test_symlinked_folders_are_followed_and_loops_reported(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "sub" / "ookla.json").write_bytes(OOKLA.read_bytes())
    top = tmp_path / "top"
    top.mkdir()
    (top / "linked").symlink_to(real, target_is_directory=True)
    (real / "sub" / "loop").symlink_to(real, target_is_directory=True)  # real/sub/loop -> real
    (top / "dangling.json").symlink_to(tmp_path / "missing.json")
    res = netmeasure("import", top, "--store", tmp_path / "s.db")
    assert "symbolic link loop" in res.stderr and "broken symbolic link" in res.stderr
    assert "5 sample(s) imported" in res.stdout, res.stdout  # the file behind the link
    assert res.exit_code == ExitStatus.FAIL  # the problems are reported, and counted


def test_csv_export_neutralises_formulas_and_round_trips(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    import csv

    hostile = {
        "probe_id": "@SUM(1+1)",
        "operator": '=HYPERLINK("http://x")',
        "area": "+84 area",
        "cell_id": "-2+3",
        "band": "\tn78",
        "campaign": "\rcr",
        "target": "'=already quoted",
        "interface": "'plain quote",
    }
    src = tmp_path / "in.jsonl"
    src.write_text(native_line(**hostile) + "\n")
    store = tmp_path / "s.db"
    assert netmeasure("import", src, "--store", store).exit_code == 0
    out = tmp_path / "out.csv"
    assert (
        netmeasure("samples", "export", "--store", store, "--format", "csv", "-o", out).exit_code
        == 0
    )
    with out.open(newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    for key, value in hostile.items():
        assert row[key] == "'" + value, key  # a spreadsheet shows text, runs nothing
        assert not row[key].startswith(("=", "+", "-", "@", "\t", "\r"))
    store2 = tmp_path / "s2.db"
    assert netmeasure("import", out, "--store", store2).exit_code == 0
    with SampleStore(store2, create=False) as s:
        (back,) = list(s.iter_rows())
    for key, value in hostile.items():
        assert back[key] == value, key


# -- fuzzing: every format through the whole import -------------------------------------------

SEEDS = {
    "iperf3": IPERF3,
    "iperf3-udp": FX / "iperf3" / "iperf3-3.12-udp-download.json",
    "ookla": OOKLA,
    "ookla-error": TP / "real-world" / "ookla" / "issue644-speedtest-tracker-error.json",
    "ndt7": FX / "ndt7" / "ndt7-client-0.10-json.jsonl",
    "ndt7-2020": TP / "real-world" / "ndt7" / "ndt7-client-go-pr42-summary-2020.json",
    "murakami": TP / "real-world" / "murakami" / "murakami-ookla-speedtest.jsonl",
    "murakami-2020": TP / "real-world" / "murakami" / "murakami-doc-2020-speedtest-cli-multi.json",
    "speedtest-cli-json": TP
    / "real-world"
    / "speedtest-cli-json"
    / "issue434-speedtest-cli-2.1.3.json",
    "librespeed-json": TP / "real-world" / "other" / "librespeed-cli-issue24.json",
    "mlab-ndt-json": TP / "found" / "mlab-ndt-unified_downloads-constructed.json",
}

hostile_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "\x00"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


@pytest.mark.parametrize("seed", list(SEEDS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_anywhere_gives_a_result_or_a_clear_error(seed: str, data: st.DataObject) -> None:
    path = SEEDS[seed]
    lines = (
        [json.loads(t) for t in path.read_text().splitlines() if t.strip()]
        if path.suffix == ".jsonl"
        else [json.loads(path.read_text())]
    )
    doc = lines[0]
    where = data.draw(st.sampled_from(_paths(doc)))
    _set(doc, where, data.draw(hostile_value))
    with tempfile.TemporaryDirectory() as tmp:
        name = Path(tmp) / path.name
        text = "\n".join(json.dumps(d) for d in lines)
        name.write_text(text, encoding="utf-8", errors="surrogatepass")
        with SampleStore(Path(tmp) / "s.db") as store:
            (r,) = import_files([name], store)
            if r.rejected:
                assert str(name) in (r.error or "")
                assert "internal error" not in (r.error or ""), r.error
            else:
                assert store.counts().total == r.imported


def test_collector_csv_export_neutralises_formulas(tmp_path: Path, netmeasure: Netmeasure) -> None:
    import csv

    from netmeasure.collector.db import SqliteDB
    from netmeasure.samples import ALL_COLUMNS

    row = dict.fromkeys(ALL_COLUMNS)
    row.update(
        sample_id="s-1",
        test_id="t-1",
        probe_id="p",
        started_at="2026-01-02T03:04:05.000000Z",
        metric="download",
        value=1e6,
        ok=True,
        under_load=False,
        tool="iperf3",
        operator="=1+2",
        area="@A1",
    )
    db = SqliteDB(tmp_path / "c.db")
    db.add_probe("p", "hash")
    db.insert("p", [[row[c] for c in ALL_COLUMNS]])
    db.close()
    out = tmp_path / "c.csv"
    res = netmeasure(
        "collector",
        "export",
        "--database",
        f"sqlite:///{tmp_path / 'c.db'}",
        "--format",
        "csv",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.stderr
    with out.open(newline="") as fh:
        (got,) = list(csv.DictReader(fh))
    assert (got["operator"], got["area"]) == ("'=1+2", "'@A1")


def test_ookla_jsonl_error_then_a_result(tmp_path: Path) -> None:
    result = json.loads(OOKLA.read_text())
    lines = [
        {"type": "testStart", "timestamp": "2022-10-20T16:00:00Z"},
        {
            "type": "log",
            "level": "error",
            "timestamp": "2022-10-20T16:00:05Z",
            "message": "Cannot open socket: Timeout occurred in connect.",
        },
        {"type": "testStart", "timestamp": "2022-10-20T16:12:00Z"},
        {"type": "log", "level": "warning", "timestamp": "2022-10-20T16:12:01Z", "message": "x"},
        {"type": "ping", "timestamp": "2022-10-20T16:12:02Z", "ping": {"progress": 1}},
        result,
    ]
    path = tmp_path / "ookla.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    with SampleStore(tmp_path / "s.db") as store:
        (r,) = import_files([path], store)
        rows = list(store.iter_rows())
    assert not r.rejected and r.imported == 3 + 5
    failed = [x for x in rows if not x["ok"]]
    assert {(x["metric"], x["error"]) for x in failed} == {
        ("download", "timeout"),
        ("upload", "timeout"),
        ("latency", "timeout"),
    }
    assert {x["started_at"] for x in failed} == {"2022-10-20T16:00:05.000000Z"}


mutation = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "insert", "delete"]),
        st.floats(0, 1),
        st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=4,
)


def _mutate(data: bytes, ops: list[Any]) -> bytes:
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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=mutation)
def test_mapped_csv_through_both_paths_gives_a_result_or_a_clear_error(ops: list[Any]) -> None:
    from netmeasure.ingest.mapped_csv import load_mapping
    from netmeasure.parquet_store import ParquetStore

    mapping = load_mapping(FX / "generic-csv" / "drive-test.mapping.toml")
    data = _mutate((FX / "generic-csv" / "drive-test.csv").read_bytes(), ops)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drive.csv"
        path.write_bytes(data)
        with SampleStore(Path(tmp) / "s.db") as store:
            (row,) = import_files([path], store, fmt="csv", mapping=mapping)
        with ParquetStore(Path(tmp) / "ds") as ds:
            (bulk,) = import_files([path], ds, fmt="csv", mapping=mapping)
    for r in (row, bulk):
        assert "internal error" not in (r.error or ""), r.error
    assert (row.error, row.imported) == (bulk.error, bulk.imported)  # both paths agree
