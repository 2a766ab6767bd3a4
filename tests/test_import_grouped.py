"""The fast paths of netmeasure import keep the guarantees (issue 11 §5): files committed into
a store in groups still go in all or nothing, each alone; a bulk CSV imported before is found
by its fingerprint without being recomputed, and only while every sample it gave is still in
the dataset; the keys kept beside each part are its ids."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import Netmeasure
from netmeasure.errors import StoreError
from netmeasure.ingest import FileResult, import_files, mapped_csv
from netmeasure.ingest.base import Overrides
from netmeasure.parquet_store import (
    FILES_FOLDER,
    ParquetStore,
    keys_path,
    parquet_keys,
    read_keys,
)
from netmeasure.samples import Sample
from netmeasure.store import SampleStore

FX = Path(__file__).parent / "fixtures"
DRIVE = FX / "generic-csv" / "drive-test.csv"
MAPPING = FX / "generic-csv" / "drive-test.mapping.toml"
OOKLA = FX / "ookla" / "ookla-cli-official.json"
IPERF3 = sorted((FX / "iperf3").glob("*tcp*.json"))


def _native_line(i: int) -> str:
    return json.dumps(
        {
            "sample_id": f"native-{i}",
            "test_id": f"t-{i}",
            "probe_id": "pi-1",
            "started_at": "2026-11-23T01:02:03Z",
            "metric": "download",
            "value": 1e6 + i,
            "ok": True,
            "tool": "iperf3",
        }
    )


def test_a_failing_file_in_a_group_is_rolled_back_alone(tmp_path: Path) -> None:
    # 6,000 good lines, then a broken one: the store has written the first 5,000 (its batch)
    # when the file fails, and they must go with it, while the files around it stay.
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(_native_line(i) for i in range(6000)) + '\n{"sample_id": broken\n')
    files = [IPERF3[0], bad, OOKLA, IPERF3[1]]
    seen: list[FileResult] = []
    with SampleStore(tmp_path / "s.db") as store:
        results = import_files(files, store, progress=seen.append)
        tools: dict[str, int] = {}
        for row in store.iter_rows():
            tools[row["tool"]] = tools.get(row["tool"], 0) + 1
        assert not store._db.in_transaction  # the group was committed
    assert [r.path for r in seen] == files  # reported, in order, once committed
    r0, r_bad, r_ookla, r1 = results
    assert r_bad.rejected and f"{bad}:6001" in (r_bad.error or ""), r_bad.error
    assert not r0.rejected and not r_ookla.rejected and not r1.rejected
    assert "iperf3" not in tools  # no row of the failed file (its rows carry tool "iperf3")
    assert tools["import:ookla"] == r_ookla.imported == 5
    assert tools["import:iperf3"] == r0.imported + r1.imported > 0


class _CommitFails:
    """A sink whose group commit fails (a full disk at COMMIT)."""

    def __init__(self) -> None:
        self.rows = 0

    def add_all_or_nothing(self, samples: Iterable[Sample]) -> tuple[int, int]:
        n = sum(1 for _ in samples)
        self.rows += n
        return n, n

    @contextmanager
    def group(self) -> Iterator[None]:
        yield
        raise StoreError("s.db: cannot write: disk full")


def test_when_a_group_commit_fails_every_file_of_it_is_reported_rejected(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"start": ')
    sink = _CommitFails()
    results = import_files([OOKLA, broken, IPERF3[0]], sink)
    assert sink.rows > 0  # the files were parsed and written, then the commit failed
    assert all(r.rejected for r in results)
    assert results[0].error == results[2].error == "s.db: cannot write: disk full"
    assert "not JSON" in (results[1].error or "")  # its own reason, not the group's
    assert all(r.imported == 0 for r in results)


def _mapping() -> Any:
    return mapped_csv.load_mapping(MAPPING)


def test_a_bulk_file_imported_before_is_not_recomputed_while_its_samples_are_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds_path = tmp_path / "ds"
    with ParquetStore(ds_path) as ds:
        (r,) = import_files([DRIVE], ds, fmt="csv", mapping=_mapping())
    assert (r.imported, r.duplicates) == (12, 0), r.error
    (record,) = (ds_path / FILES_FOLDER).glob("*.keys")
    (part,) = ds_path.rglob("*.parquet")

    def not_again(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("recomputed a file imported before")

    with monkeypatch.context() as m:
        m.setattr(mapped_csv, "fast_parquet", not_again)
        with ParquetStore(ds_path) as ds:
            (r,) = import_files([DRIVE], ds, fmt="csv", mapping=_mapping())
        assert (r.imported, r.duplicates) == (0, 12), r.error
        # Another context on the command line is another fingerprint: computed again (here
        # the stand-in's error, reported as the file's).
        with ParquetStore(ds_path) as ds:
            (r,) = import_files(
                [DRIVE], ds, fmt="csv", mapping=_mapping(), overrides=Overrides(area="x")
            )
        assert r.rejected and "recomputed" in (r.error or "")
    # The part is deleted: the record alone must not stop the samples from coming back.
    part.unlink()
    keys_path(part).unlink()
    with ParquetStore(ds_path) as ds:
        (r,) = import_files([DRIVE], ds, fmt="csv", mapping=_mapping())
    assert (r.imported, r.duplicates) == (12, 0), r.error
    assert record.exists()


def test_part_keys_are_its_ids_and_are_rebuilt_when_missing(tmp_path: Path) -> None:
    ds_path = tmp_path / "ds"
    with ParquetStore(ds_path) as ds:
        import_files([DRIVE], ds, fmt="csv", mapping=_mapping())  # the bulk path
        import_files([OOKLA], ds)  # the row path
    parts = sorted(ds_path.rglob("*.parquet"))
    assert len(parts) == 2
    for part in parts:
        got = read_keys(keys_path(part), np)
        assert got is not None
        expected = np.unique(parquet_keys(part, np))
        assert got[0] == len(expected) and bytes(got[1]) == bytes(expected)
        keys_path(part).unlink()  # as a dataset written by an older version
    # A copy with other line ends: another fingerprint, the same samples; the keys are
    # computed from the parts again, and the copy adds nothing.
    copy = tmp_path / "copy.csv"
    copy.write_bytes(DRIVE.read_bytes().replace(b"\n", b"\r\n"))
    with ParquetStore(ds_path) as ds:
        (r,) = import_files([copy], ds, fmt="csv", mapping=_mapping())
        assert len(ds.known) == 12 + 5
    assert (r.imported, r.duplicates) == (0, 12), r.error
    assert all(keys_path(p).exists() for p in parts)


def test_bulk_path_counts_rows_present_and_doubled_as_the_store_does(tmp_path: Path) -> None:
    lines = DRIVE.read_text().splitlines()
    new_row = "23/11/2026 09:00:05,car-07,45204,5G-SA,21.1,105.9,-95.5,100.5,12.5,30"
    more = tmp_path / "more.csv"
    more.write_text("\n".join([*lines, new_row, new_row]) + "\n")
    counts = []
    with SampleStore(tmp_path / "s.db") as store:
        import_files([DRIVE], store, fmt="csv", mapping=_mapping())
        (r,) = import_files([more], store, fmt="csv", mapping=_mapping())
        counts.append((r.imported, r.duplicates))
        stored = {row["sample_id"]: row for row in store.iter_rows()}
    with ParquetStore(tmp_path / "ds") as ds:
        import_files([DRIVE], ds, fmt="csv", mapping=_mapping())
        (r,) = import_files([more], ds, fmt="csv", mapping=_mapping())
        counts.append((r.imported, r.duplicates))
    assert counts == [(3, 12 + 3)] * 2  # the new row's 3 samples once; its copy adds nothing
    with SampleStore(tmp_path / "back.db") as store:
        import_files(sorted((tmp_path / "ds").rglob("*.parquet")), store)
        back = {row["sample_id"]: row for row in store.iter_rows()}
    assert back == stored  # the first occurrence kept (source line 6, not 7)
    assert {r["source"] for r in back.values() if r["probe_id"] == "car-07"} == {"more.csv:6"}


MURAKAMI = FX / "murakami" / "murakami-ndt7.jsonl"


def _count_rows(target: Path, into: bool) -> dict[str, int]:
    if into:
        import duckdb

        relation = duckdb.sql(
            f"SELECT tool, count(*) FROM read_parquet('{target}/**/*.parquet') GROUP BY tool"
        )
        assert relation is not None
        rows = relation.fetchall()
        return {str(tool): int(n) for tool, n in rows}
    with SampleStore(target, create=False) as store:
        counts: dict[str, int] = {}
        for row in store.iter_rows():
            counts[row["tool"]] = counts.get(row["tool"], 0) + 1
        return counts


@pytest.mark.parametrize("into", [False, True], ids=["store", "dataset"])
def test_truncated_and_garbage_files_beside_good_ones(
    tmp_path: Path,
    into: bool,
    netmeasure: Netmeasure,
) -> None:
    import random

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-good-ookla.json").write_bytes(OOKLA.read_bytes())
    iperf3 = IPERF3[0].read_bytes()
    (folder / "b-truncated-iperf3.json").write_bytes(iperf3[: len(iperf3) // 2])
    murakami = MURAKAMI.read_bytes().rstrip(b"\n")
    two = murakami + b"\n" + murakami.replace(b"2021", b"2022") + b"\n"
    (folder / "c-truncated-murakami.jsonl").write_bytes(two[: len(two) - 40])
    (folder / "d-garbage.bin").write_bytes(random.Random(7).randbytes(3000))
    (folder / "e-empty.json").write_bytes(b"")
    (folder / "f-text.txt").write_bytes(b"hello, this is not a measurement\n")
    (folder / "g-good-iperf3.json").write_bytes(iperf3)
    (folder / "h-good-murakami.jsonl").write_bytes(MURAKAMI.read_bytes())
    target = tmp_path / ("ds" if into else "s.db")
    res = netmeasure("import", folder, "--into" if into else "--store", target)
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    said = {
        "b-truncated-iperf3.json": "not JSON",
        "c-truncated-murakami.jsonl": "c-truncated-murakami.jsonl:2",
        "d-garbage.bin": "binary",
        "e-empty.json": "empty file",
        "f-text.txt": "unknown format",
    }
    stderr = res.stderr.replace("\n", " ")
    for name, reason in said.items():
        assert name in stderr, name
        line = next(ln for ln in res.stderr.splitlines() if name in ln)
        assert reason in line, line
    assert "5 file(s) rejected" in res.stdout
    alone = tmp_path / ("alone-ds" if into else "alone.db")
    good = [
        folder / n for n in ("a-good-ookla.json", "g-good-iperf3.json", "h-good-murakami.jsonl")
    ]
    res = netmeasure("import", *good, "--into" if into else "--store", alone)
    assert res.exit_code == 0, res.stderr
    # Exactly the good files' samples: none of the bad ones, none lost, none doubled.
    assert _count_rows(target, into) == _count_rows(alone, into)
    assert set(_count_rows(target, into)) == {"import:ookla", "import:iperf3", "import:murakami"}


@pytest.mark.parametrize("into", [False, True], ids=["store", "dataset"])
def test_a_truncated_mapped_csv_beside_a_good_one(
    tmp_path: Path,
    into: bool,
    netmeasure: Netmeasure,
) -> None:
    text = DRIVE.read_bytes()
    cut = tmp_path / "cut.csv"
    cut.write_bytes(text[: len(text) - 30])  # the last row loses its last cells
    res = netmeasure(
        "import",
        cut,
        DRIVE,
        "--mapping",
        MAPPING,
        "--into" if into else "--store",
        tmp_path / "t",
    )
    assert res.exit_code == 1, res.stdout + res.stderr
    line = next(ln for ln in res.stderr.splitlines() if "cut.csv" in ln)
    assert "cut.csv:5" in line and "cells for 10 columns" in line, line
    assert "12 sample(s) imported" in res.stdout and "1 file(s) rejected" in res.stdout
