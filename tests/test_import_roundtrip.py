"""One declaration of the sample record (samples.SCHEMA) and everything derived from it;
export -> import is lossless over every column, extras included (issue 11 §4); the Parquet
dataset import (--into) keeps the store's guarantees (§5)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import Netmeasure
from netmeasure.collector.db import SqliteDB
from netmeasure.export import arrow_schema, write_csv
from netmeasure.ingest import import_files
from netmeasure.parquet_store import ParquetStore
from netmeasure.samples import ALL_COLUMNS, COLUMN_TYPES, REQUIRED_COLUMNS, SCHEMA, Sample
from netmeasure.store import SampleStore

FX = Path(__file__).parent / "fixtures"
DRIVE = FX / "generic-csv" / "drive-test.csv"
MAPPING = FX / "generic-csv" / "drive-test.mapping.toml"
OOKLA = FX / "ookla" / "ookla-cli-official.json"

FULL: dict[str, Any] = {
    "sample_id": "6f9d0c3e-1111-4a2b-8c3d-000000000001",
    "test_id": "t-1",
    "probe_id": "pi-07",
    "campaign": "hanoi-2026",
    "started_at": "2026-11-23T01:02:03.456789Z",
    "duration_s": 10.25,
    "metric": "download",
    "value": 123456789.125,
    "ok": True,
    "error": None,
    "tool": "iperf3",
    "tool_version": "3.12",
    "target": "10.0.0.1:5201",
    "streams": 4,
    "under_load": True,
    "environment": "outdoor_mobile",
    "area": "Hoan Kiem, Ha Noi",
    "operator": '-Viettel, "quoted"\nline',
    "technology": "5G-SA",
    "latitude": 21.028511,
    "longitude": 105.804817,
    "rsrp_dbm": -88.5,
    "rsrq_db": -10.5,
    "sinr_db": 17.25,
    "cell_id": "0x1A2B",
    "band": "n78",
    "host": "probe-7.local",
    "interface": "wwan0",
    "source": "original.json:12",
    "clock_synced": True,
    "boot_id": "3f1c2b7e-9a0d-4e6f-8b21-5c4d3e2f1a0b",
    "monotonic_s": 81234.125,
}
FAILED = dict(FULL, sample_id="s-2", metric="upload", value=None, ok=False, error="timeout")


def test_the_declaration_covers_every_column_once() -> None:
    assert [c.name for c in SCHEMA] == list(ALL_COLUMNS)
    assert set(FULL) == set(ALL_COLUMNS)
    assert [f for f in Sample.__dataclass_fields__] != []
    assert set(Sample.__dataclass_fields__) == set(ALL_COLUMNS)
    assert arrow_schema().names == list(ALL_COLUMNS)


def test_store_and_collector_ddl_are_derived(tmp_path: Path) -> None:
    types = {"str": "TEXT", "ts": "TEXT", "float": "REAL", "int": "INTEGER", "bool": "INTEGER"}
    with SampleStore(tmp_path / "s.db"):
        pass
    db = SqliteDB(tmp_path / "c.db")
    db.close()
    from netmeasure.collector.db import LATER_COLUMNS

    # columns added by later migrations come after those of the first (and received_at)
    first = [c for c in ALL_COLUMNS if c not in LATER_COLUMNS]
    later = [c for c in ALL_COLUMNS if c in LATER_COLUMNS]
    for path, order in (
        (tmp_path / "s.db", list(ALL_COLUMNS)),
        (tmp_path / "c.db", [*first, "received_at", *later]),
    ):
        with sqlite3.connect(path) as con:
            info = con.execute("PRAGMA table_info(samples)").fetchall()
        assert [r[1] for r in info] == order
        for _, name, kind, notnull, _, pk in [r for r in info if r[1] != "received_at"]:
            assert kind == types[COLUMN_TYPES[name]], name
            assert bool(notnull or pk) == (name in REQUIRED_COLUMNS), name


def test_collector_request_model_is_derived() -> None:
    from netmeasure.collector.app import SampleIn

    assert list(SampleIn.model_fields) == list(ALL_COLUMNS)
    required = {n for n, f in SampleIn.model_fields.items() if f.is_required()}
    assert required == set(REQUIRED_COLUMNS) - {"under_load"}  # defaulted to false on the wire
    ok = SampleIn.model_validate(FULL)
    assert [getattr(ok, c) for c in ALL_COLUMNS if c != "started_at"] == [
        FULL[c] for c in ALL_COLUMNS if c != "started_at"
    ]


def test_collector_migration_rolls_back_on_failure(tmp_path: Path) -> None:
    from netmeasure.collector.db import APPLICATION_ID
    from netmeasure.errors import StoreError

    path = tmp_path / "c.db"
    with sqlite3.connect(path) as con:  # a half-made database: its "probes" already exists
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        con.execute("CREATE TABLE probes (x)")
    with pytest.raises(StoreError, match="already exists"):
        SqliteDB(path)
    with sqlite3.connect(path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        version = con.execute("PRAGMA user_version").fetchone()[0]
    assert tables == {"probes"} and version == 0  # nothing of the failed migration stayed


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_then_import_is_lossless(fmt: str, tmp_path: Path, netmeasure: Netmeasure) -> None:
    src = tmp_path / "src.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in (FULL, FAILED)) + "\n")
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert netmeasure("import", src, "--store", a).exit_code == 0
    out = tmp_path / f"export.{fmt}"
    res = netmeasure("samples", "export", "--store", a, "--format", fmt, "-o", out)
    assert res.exit_code == 0, res.stderr
    res = netmeasure("import", out, "--store", b)
    assert res.exit_code == 0, res.stdout + res.stderr
    with SampleStore(a, create=False) as sa, SampleStore(b, create=False) as sb:
        before, after = list(sa.iter_rows()), list(sb.iter_rows())
    assert after == before
    assert after[0] == FULL or after[1] == FULL  # every column, extras and source included
    # ... and importing the export into the first store adds nothing.
    res = netmeasure("import", out, "--store", a)
    assert "0 sample(s) imported, 2 already present" in res.stdout


def test_csv_header_is_the_declaration(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    with out.open("w", newline="") as fh:
        write_csv([FULL], fh)
    assert out.read_text().splitlines()[0] == ",".join(ALL_COLUMNS)


# -- import into a Parquet dataset ----------------------------------------------------------


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


def test_dataset_import_is_idempotent_and_read_by_evaluate(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    ds = tmp_path / "ds"
    res = netmeasure("import", DRIVE, "--mapping", MAPPING, "--into", ds)
    assert res.exit_code == 0 and "12 sample(s) imported" in res.stdout, res.stdout
    copy = tmp_path / "copy.csv"
    copy.write_bytes(DRIVE.read_bytes().replace(b"\n", b"\r\n"))
    res = netmeasure("import", DRIVE, copy, "--mapping", MAPPING, "--into", ds)
    assert "0 sample(s) imported, 24 already present" in res.stdout, res.stdout
    parts = list(ds.rglob("*.parquet"))
    assert len(parts) == 1 and parts[0].parent.name == "format=csv"
    std = tmp_path / "dl-mean.toml"  # a mean over any tool: the import's rows are not curl's
    std.write_text(MEAN_DL)
    res = netmeasure("evaluate", "--standard", std, "--json", ds)
    dl = next(c for c in json.loads(res.stdout)["groups"][0]["criteria"] if c["id"] == "dl-mean")
    assert dl["n"] == 2 and dl["estimate"] == pytest.approx((312.4e6 + 287.9e6) / 2)
    # The dataset imports back into a store exactly (the store path and the dataset agree).
    with SampleStore(tmp_path / "s.db") as store:
        import_files([DRIVE], store, fmt="csv", mapping=_mapping())
        from_store = sorted(store.iter_rows(), key=lambda r: r["sample_id"])
    with SampleStore(tmp_path / "t.db") as store:
        (r,) = import_files(parts, store)
        assert not r.rejected, r.error
        from_dataset = sorted(store.iter_rows(), key=lambda r: r["sample_id"])
    assert from_dataset == from_store


def _mapping() -> Any:
    from netmeasure.ingest.mapped_csv import load_mapping

    return load_mapping(MAPPING)


def test_dataset_part_is_all_or_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = json.dumps(FULL)
    bad.write_text(good + "\n" + json.dumps(dict(FULL, sample_id="x", started_at="never")) + "\n")
    with ParquetStore(tmp_path / "ds") as ds:
        r_bad, r_good = import_files([bad, OOKLA], ds)
    assert r_bad.rejected and f"{bad}:2" in (r_bad.error or "")
    assert r_good.imported == 5
    files = sorted(p.name for p in (tmp_path / "ds").rglob("*") if p.is_file())
    assert [f for f in files if f.endswith(".parquet")] == [
        f for f in files if f.startswith("part-")
    ]  # no temporary part left behind
    assert len([f for f in files if f.startswith("part-")]) == 1


def test_one_importer_at_a_time(tmp_path: Path) -> None:
    from netmeasure.errors import StoreError

    with ParquetStore(tmp_path / "ds"), pytest.raises(StoreError, match="another import"):
        ParquetStore(tmp_path / "ds")


def _rows_by_path(path: Path, tmp_path: Path, **over: str) -> tuple[list[dict[str, Any]], ...]:
    """The same mapped CSV through the row path (a store) and the bulk path (a dataset)."""
    from netmeasure.ingest.base import Overrides

    o = Overrides(**over)
    with SampleStore(tmp_path / "row.db") as store:
        (r,) = import_files([path], store, fmt="csv", mapping=_mapping(), overrides=o)
        assert not r.rejected, r.error
        row_path = sorted(store.iter_rows(), key=lambda r: r["sample_id"])
    with ParquetStore(tmp_path / "bulk") as ds:
        (r,) = import_files([path], ds, fmt="csv", mapping=_mapping(), overrides=o)
        assert not r.rejected, r.error
    with SampleStore(tmp_path / "back.db") as store:
        import_files(sorted((tmp_path / "bulk").rglob("*.parquet")), store)
        bulk_path = sorted(store.iter_rows(), key=lambda r: r["sample_id"])
    return row_path, bulk_path


def test_bulk_path_gives_the_row_paths_samples(tmp_path: Path) -> None:
    lines = DRIVE.read_text().splitlines()
    # Quoted cells with the delimiter, cells padded with spaces, an empty metric cell.
    lines.append('23/11/2026 09:00:05,"car,07", 45204 ,5G-SA,21.1,105.9,-95.5,  ,12.5,30')
    src = tmp_path / "drive.csv"
    src.write_text("\n".join(lines) + "\n")
    row_path, bulk_path = _rows_by_path(src, tmp_path, operator="Viettel", campaign="c1")
    assert len(row_path) == 3 * (len(lines) - 1)
    from netmeasure.ingest.base import Origin, Overrides
    from netmeasure.ingest.mapped_csv import fast_parquet

    out = tmp_path / "bulk.parquet"
    n = fast_parquet(Origin(src, "csv"), Overrides(operator="Viettel"), _mapping(), out)
    assert n == len(row_path)  # the bulk path did take this file
    assert bulk_path == row_path  # every column, ids and source lines included


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda t: t.replace("312.4", "3l2.4"), "not a number: '3l2.4'"),  # the row path's error
        (lambda t: t.replace("\n23/11/2026 08:00:50", "\n\n23/11/2026 08:00:50"), None),  # blank
        (lambda t: t.replace("312.4", "-312.4"), "negative value"),
    ],
)
def test_bulk_path_gives_way_to_the_row_path(
    tmp_path: Path,
    edit: Any,
    problem: str | None,
) -> None:
    src = tmp_path / "drive.csv"
    src.write_text(edit(DRIVE.read_text()))
    with ParquetStore(tmp_path / "ds") as ds:
        (r,) = import_files([src], ds, fmt="csv", mapping=_mapping())
    if problem is None:
        assert not r.rejected and r.imported == 12, r.error
    else:
        assert r.rejected and problem in (r.error or "") and f"{src}:2" in (r.error or ""), r.error
        assert not list((tmp_path / "ds").rglob("*.parquet*"))
