from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import Netmeasure
from netmeasure.errors import StoreError, StoreSchemaTooNew
from netmeasure.export import write_csv, write_jsonl, write_parquet
from netmeasure.samples import ALL_COLUMNS, COLUMNS, Context, Measurement, build_samples
from netmeasure.store import SCHEMA_VERSION, SampleStore

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def a_test(test_id: str = "t1", value: float | None = 95.6e6) -> list:
    ms = [
        Measurement(
            "download", value, ok=value is not None, error=None if value is not None else "connect"
        )
    ]
    ctx = Context(
        probe_id="hn-pi-01",
        campaign="c",
        environment="indoor",
        operator="Viettel",
        technology="5G-SA",
        latitude=21.03,
        longitude=105.85,
    )
    return build_samples(
        ms,
        context=ctx,
        test_id=test_id,
        tool="iperf3",
        tool_version="3.12",
        target="192.0.2.1:5201",
        streams=4,
        started_at=T0,
    )


def test_new_store_is_wal_and_versioned(tmp_path: Path) -> None:
    with SampleStore(tmp_path / "s.db") as store:
        assert store.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_roundtrip_and_idempotent(tmp_path: Path) -> None:
    samples = a_test()
    with SampleStore(tmp_path / "s.db") as store:
        assert store.add_test(samples, raw=("iperf3", '{"end": {}}')) == 1
        assert store.add_test(samples) == 0  # same sample_id: not duplicated
        back = store.samples()
        assert back == samples
        assert store.raw_output("t1") == '{"end": {}}'
        assert store.counts().by_metric == {"download": (1, 0)}


def test_failed_samples_are_kept(tmp_path: Path) -> None:
    with SampleStore(tmp_path / "s.db") as store:
        store.add_test(a_test("t2", None))
        (row,) = list(store.iter_rows())
    assert row["ok"] is False and row["value"] is None and row["error"] == "connect"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SampleStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreSchemaTooNew, match="upgrade netmeasure"):
        SampleStore(path)


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE x (y)")
    db.close()
    with pytest.raises(StoreError, match="not a netmeasure sample store"):
        SampleStore(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"\x00garbage" * 200)
    with pytest.raises(StoreError, match=str(path)):
        SampleStore(path)


def test_exports_have_contract_columns_in_order(tmp_path: Path) -> None:
    rows = [s.to_row() for s in a_test("t1") + a_test("t2", None)]
    buf = io.StringIO()
    write_csv(rows, buf)
    reader = csv.reader(io.StringIO(buf.getvalue()))
    header = next(reader)
    assert tuple(header[: len(COLUMNS)]) == COLUMNS and tuple(header) == ALL_COLUMNS
    first = dict(zip(header, next(reader), strict=True))
    assert first["ok"] == "true" and float(first["value"]) == 95.6e6
    assert first["started_at"] == "2026-11-23T08:00:00.000000Z"

    buf = io.StringIO()
    write_jsonl(rows, buf)
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert list(lines[0]) == list(ALL_COLUMNS)
    assert lines[1]["value"] is None and lines[1]["ok"] is False

    write_parquet(rows, tmp_path / "x.parquet")
    table = pq.read_table(tmp_path / "x.parquet")
    assert tuple(table.column_names) == ALL_COLUMNS
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert table.column("value").to_pylist() == [95.6e6, None]


def test_partitioned_parquet(tmp_path: Path) -> None:
    rows = [s.to_row() for s in a_test("t1") + a_test("t2")]
    write_parquet(rows, tmp_path / "ds", partition_by=["day", "operator"])
    assert (tmp_path / "ds" / "day=2026-11-23" / "operator=Viettel").is_dir()
    assert pq.read_table(tmp_path / "ds").num_rows == 2


def test_cli_list_and_export(tmp_path: Path, netmeasure: Netmeasure) -> None:
    path = tmp_path / "s.db"
    with SampleStore(path) as store:
        store.add_test(a_test())
    res = netmeasure("samples", "list", "--store", path)
    assert res.exit_code == 0 and "download" in res.stdout
    res = netmeasure("samples", "export", "--store", path, "--format", "jsonl")
    assert res.exit_code == 0
    assert json.loads(res.stdout.splitlines()[0])["probe_id"] == "hn-pi-01"
    res = netmeasure(
        "samples", "export", "--store", path, "--format", "parquet", "-o", tmp_path / "o.parquet"
    )
    assert res.exit_code == 0 and pq.read_table(tmp_path / "o.parquet").num_rows == 1


def test_cli_missing_store_is_a_clear_error(tmp_path: Path, netmeasure: Netmeasure) -> None:
    res = netmeasure("samples", "list", "--store", tmp_path / "nope.db")
    assert res.exit_code == 2
    assert "nope.db: no such sample store" in res.stderr
    assert "Traceback" not in res.stderr
