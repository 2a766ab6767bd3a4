"""evaluate's inputs (issue 12): a sample counted once whatever holds it, stores read
read-only and as given, damaged stores with a clear message."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import Netmeasure
from netmeasure.evaluate import evaluate
from netmeasure.samples import Sample
from netmeasure.standard import load_standard
from netmeasure.store import SampleStore
from netmeasure.synthetic import campaign

QCVN = "vn-qcvn-126-2021"


def make_store(path: Path, tests: int = 400, seed: int = 4) -> list[dict]:
    rows = campaign(tests, probes=4, seed=seed).to_pylist()
    for r in rows:
        r["started_at"] = r["started_at"].isoformat().replace("+00:00", "Z")
    with SampleStore(path) as store:
        store.add_many(Sample.from_row(r) for r in rows)
    return rows


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_store_and_its_export_in_one_folder_count_once(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    rows = make_store(folder / "samples.db")
    res = netmeasure(
        "samples",
        "export",
        "--store",
        folder / "samples.db",
        "--format",
        "csv",
        "-o",
        folder / "samples.csv",
    )
    assert res.exit_code == 0, res.stderr
    std = load_standard(QCVN)
    alone = evaluate(std, [str(folder / "samples.db")]).to_json()
    both = evaluate(std, [str(folder)])
    group = both.groups[0]
    assert group.n_samples == alone["groups"][0]["n_samples"] == len(rows)
    assert group.excluded["duplicate"] == len(rows)
    pairs = zip(
        both.to_json()["groups"][0]["criteria"], alone["groups"][0]["criteria"], strict=True
    )
    for mine, ref in pairs:
        assert mine["n"] == ref["n"] and mine["estimate"] == pytest.approx(ref["estimate"])
    # the same file twice within one folder, and a Parquet copy given as a second argument
    pq.write_table(campaign(400, probes=4, seed=4), tmp_path / "copy.parquet")
    again = evaluate(std, [str(folder), str(tmp_path / "copy.parquet")]).groups[0]
    assert again.n_samples == len(rows) and again.excluded["duplicate"] == 2 * len(rows)


def test_duplicates_within_one_file(tmp_path: Path) -> None:
    table = campaign(100, probes=2, seed=1)
    import pyarrow as pa

    doubled = pa.concat_tables([table, table.slice(0, 30)])
    pq.write_table(doubled, tmp_path / "x.parquet")
    g = evaluate(load_standard(QCVN), [str(tmp_path / "x.parquet")]).groups[0]
    assert g.n_samples == table.num_rows and g.excluded["duplicate"] == 30


def test_repeated_hashes_sorted_or_aggregated_agree(tmp_path: Path) -> None:
    """The duplicate check's two ways (numpy's sort while the hashes fit in half the memory
    limit, DuckDB's aggregate beyond) find the same hashes, each once."""
    import pyarrow as pa

    from netmeasure.evaluate.engine import DuckDBEngine, memory_bytes
    from netmeasure.evaluate.plan import Plan

    table = campaign(200, probes=3, seed=2)
    # one id three times, thirty twice
    tripled = pa.concat_tables([table, table.slice(0, 30), table.slice(0, 1)])
    pq.write_table(tripled, tmp_path / "x.parquet")
    engine = DuckDBEngine([str(tmp_path / "x.parquet")])
    try:
        sql = Plan(load_standard(QCVN), (), engine.dialect).hashes_sql()
        rows = tripled.num_rows
        sorted_rel = engine.repeated_hashes(sql, rows)
        assert sorted_rel == "_repeated"  # 261 rows: well within 1 GB
        by_sort = engine.fetch(f"SELECT _h FROM {sorted_rel} ORDER BY 1")
        aggregated = engine.repeated_hashes(sql, memory_bytes("1GB"))  # beyond: SQL
        assert aggregated != "_repeated"
        by_aggregate = engine.fetch(f"SELECT _h FROM {aggregated} ORDER BY 1")
    finally:
        engine.close()
    assert len(by_sort) == 30 and by_sort == by_aggregate


def test_repeated_hashes_many_pass_as_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond REPEATED_AS_PARAMETER repeated hashes, the sorted way hands them to DuckDB as
    a registered table instead of a query parameter: the same hashes."""
    import pyarrow as pa

    from netmeasure.evaluate import engine as engine_module
    from netmeasure.evaluate.plan import Plan

    table = campaign(200, probes=3, seed=2)
    pq.write_table(pa.concat_tables([table, table.slice(0, 30)]), tmp_path / "x.parquet")
    found = []
    for bound in (engine_module.REPEATED_AS_PARAMETER, 10):
        monkeypatch.setattr(engine_module, "REPEATED_AS_PARAMETER", bound)
        engine = engine_module.DuckDBEngine([str(tmp_path / "x.parquet")])
        try:
            sql = Plan(load_standard(QCVN), (), engine.dialect).hashes_sql()
            rel = engine.repeated_hashes(sql, 230)
            found.append(engine.fetch(f"SELECT _h, typeof(_h) FROM {rel} ORDER BY 1"))
        finally:
            engine.close()
    assert len(found[0]) == 30 and found[0] == found[1]
    assert {t for _, t in found[0]} == {"UBIGINT"}


@pytest.mark.parametrize("size", [0, 1, 999, 1_500_000])
def test_repeated_values_against_numpy_unique(size: int) -> None:
    """repeated_values (two threads, one per half of the range, above a million values)
    finds what numpy's unique counts find: every value seen more than once, each once,
    including both ends of the 64-bit range."""
    import numpy as np

    from netmeasure.evaluate.engine import repeated_values

    rng = np.random.default_rng(size)
    values = rng.integers(0, 2**64 - 1, size, dtype=np.uint64, endpoint=True)
    if size > 10:
        values[: size // 10] = values[size // 10 : 2 * (size // 10)]  # 10 % seen twice
        values[-3:] = [0, 2**64 - 1, 2**64 - 1]
        values[:2] = [0, 2**63]
        values[5] = 2**63
    unique, counts = np.unique(values, return_counts=True)
    expected = unique[counts > 1]
    got = repeated_values(values.copy())
    assert got.dtype == np.uint64
    assert np.array_equal(np.sort(got), expected)
    if size > 10:
        assert {0, 2**63, 2**64 - 1} <= set(got.tolist())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1GB", 10**9), ("512MB", 512 * 10**6), ("2GiB", 2 * 2**30), (" 1.5 gb ", 1.5 * 10**9)],
)
def test_memory_limit_in_bytes(text: str, expected: float) -> None:
    from netmeasure.evaluate.engine import memory_bytes

    assert memory_bytes(text) == expected


@pytest.mark.pdf
def test_evaluate_and_report_do_not_modify_the_store(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    store = tmp_path / "samples.db"
    make_store(store)
    # as a probe leaves it: schema version 1 (before the outbox), journal mode WAL
    db = sqlite3.connect(store)
    db.execute("DROP TABLE acknowledged")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    before = sha256(store)
    stat = store.stat()
    listing = sorted(p.name for p in tmp_path.iterdir())
    res = netmeasure("evaluate", "--standard", QCVN, "--json", store)
    assert res.exit_code in (0, 1, 3), res.stderr
    assert json.loads(res.stdout)["sources"][0]["sha256"] == before
    res = netmeasure("report", "--standard", QCVN, "-o", tmp_path / "r.pdf", store)
    assert res.exit_code == 0, res.stderr
    assert sha256(store) == before and store.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*listing, "r.pdf"])
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1  # never migrated
    db.close()


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A folder on a tmpfs remounted read-only (as a CD, a write-protected USB stick or a
    read-only network share presents itself)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "media"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt, tmp_path
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_store_on_read_only_media(
    read_only_folder: tuple[Path, Path], netmeasure: Netmeasure
) -> None:
    mnt, scratch = read_only_folder
    make_store(scratch / "s.db")
    shutil.copy(scratch / "s.db", mnt / "s.db")
    digest = sha256(mnt / "s.db")
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    with pytest.raises(OSError):
        (mnt / "probe").write_text("x")  # really read-only
    res = netmeasure("evaluate", "--standard", QCVN, "--json", mnt / "s.db")
    assert res.exit_code in (0, 1, 3), res.stderr
    data = json.loads(res.stdout)
    assert data["sources"][0]["sha256"] == digest
    assert data["groups"][0]["n_samples"] == 1200
    # a store whose write-ahead log holds changes (a probe that lost power, no -shm file):
    # read through the log (from a private copy), without writing anything there
    subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
    live = sqlite3.connect(mnt / "s.db")
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("DELETE FROM samples WHERE rowid <= 30")
    live.commit()
    shutil.copy(mnt / "s.db-wal", scratch / "wal")
    live.close()  # checkpoints and removes the log: put it back as a crash would leave it
    shutil.copy(scratch / "wal", mnt / "s.db-wal")
    (mnt / "s.db-shm").unlink(missing_ok=True)
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    hashes = {p.name: sha256(p) for p in mnt.iterdir()}
    res = netmeasure("evaluate", "--standard", QCVN, "--json", mnt / "s.db")
    assert res.exit_code in (0, 1, 3), res.stderr
    assert json.loads(res.stdout)["groups"][0]["n_samples"] == 1200 - 30
    assert {p.name: sha256(p) for p in mnt.iterdir()} == hashes


def test_damaged_store_and_bad_times(tmp_path: Path, netmeasure: Netmeasure) -> None:
    store = tmp_path / "s.db"
    make_store(store, tests=2000)
    bad = tmp_path / "times.db"
    shutil.copy(store, bad)
    db = sqlite3.connect(bad)
    db.execute("UPDATE samples SET started_at = 'yesterday' WHERE rowid <= 3")
    db.execute("UPDATE samples SET started_at = '2026-13-45T99:00:00Z' WHERE rowid = 4")
    db.execute("UPDATE samples SET value = 'fast' WHERE rowid = 5 AND ok = 1")
    db.commit()
    db.close()
    g = evaluate(load_standard(QCVN), [str(bad)]).groups[0]
    assert g.excluded["invalid_value"] >= 4 and g.n_samples + g.excluded["invalid_value"] == 6000
    # a damaged page in the middle of the samples table
    damaged = tmp_path / "damaged.db"
    data = bytearray(store.read_bytes())
    page = 4096
    for at in range(page * 2, len(data) // 2):
        data[at] = 0xA5
    damaged.write_bytes(bytes(data))
    res = netmeasure("evaluate", "--standard", QCVN, damaged)
    assert res.exit_code == 2, res.stderr
    assert str(damaged) in res.stderr and "Internal error" not in res.stderr
    assert "Traceback" not in res.stderr
    # not a store at all
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    res = netmeasure("evaluate", "--standard", QCVN, other)
    assert res.exit_code == 2 and "not a netmeasure sample store" in res.stderr


def test_a_folder_of_parquet_files_is_read_as_one(tmp_path: Path) -> None:
    """A folder's Parquet files are read by one reader (engine._parts): every row of every
    file counts once, files with other columns are reconciled by name, a duplicate across
    two files of the folder is found, and a file lacking a required column is named."""
    import pyarrow as pa

    folder = tmp_path / "parts"
    folder.mkdir()
    a = campaign(60, probes=2, seed=1)
    b = campaign(60, probes=2, seed=2)
    pq.write_table(a, folder / "a.parquet")
    # another column order and an extra column: reconciled by name
    b = b.select(list(reversed(b.column_names))).append_column("extra", pa.array(["x"] * len(b)))
    pq.write_table(b, folder / "b.parquet")
    pq.write_table(a.slice(0, 7), folder / "c.parquet")  # 7 rows of a.parquet again
    std = load_standard(QCVN)
    (g,) = evaluate(std, [str(folder)]).groups
    assert g.n_samples == a.num_rows + b.num_rows - g.excluded["technology"]
    assert g.excluded["duplicate"] == 7
    # the same rows through one reader per file (single files) give the same figures
    (one,) = evaluate(std, [str(folder / "a.parquet"), str(folder / "b.parquet")]).groups
    assert one.n_samples == g.n_samples
    assert [c.estimate for c in one.criteria] == pytest.approx([c.estimate for c in g.criteria])
    pq.write_table(a.drop_columns(["value"]), folder / "d.parquet")
    with pytest.raises(Exception, match=r"d\.parquet: missing column 'value'"):
        evaluate(std, [str(folder)])


@pytest.mark.parametrize(
    "group_by",
    [(), ("operator",), ("operator", "area"), ("probe_id",), ("metric", "day"), ("h3_6",)],
)
def test_spacing_by_sort_equals_the_window(tmp_path: Path, group_by: tuple[str, ...]) -> None:
    """DuckDB's spacing by one sort (device and group numbers, streamed to numpy) gives the
    window's rows exactly, on devices that roam across groups, tests at the same instant
    (gap 0), tests without a device or an area, and a device with a single test."""
    import pyarrow as pa

    from netmeasure.evaluate.engine import DuckDBEngine
    from netmeasure.evaluate.pipeline import check_group_by
    from netmeasure.evaluate.plan import Plan, annotate
    from netmeasure.synthetic import crowdsourced

    df = crowdsourced(3000, devices=40, areas=5, days=3, seed=5).to_pandas()
    df["area"] = df["area"].astype(object)
    df.loc[df.index[::97], "probe_id"] = None  # one device: the tests without an id
    df.loc[df.index[::89], "area"] = None
    same = df.index[(df.metric == "download").to_numpy()][10:40:3]
    df.loc[same, "started_at"] = df.loc[same[0], "started_at"]  # ten tests at one instant
    df.loc[same, "probe_id"] = df.loc[same[0], "probe_id"]
    lone = df.index[(df.metric == "download").to_numpy()][50]
    df.loc[lone, "probe_id"] = "the-only-test"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "x.parquet")
    engine = DuckDBEngine([str(tmp_path / "x.parquet")])
    try:
        plan = annotate(engine, Plan(load_standard(QCVN), check_group_by(group_by), engine.dialect))
        for sql in plan.sets_statements().values():
            engine.execute(sql)
        window, by_sort = plan.spacing_sql(), plan.spacing_by_sort()
        assert window is not None and by_sort is not None
        by_window = sorted(engine.fetch(window))
        sorted_rows = sorted(engine.spacing(window, by_sort))
    finally:
        engine.close()
    # groups whose only tests are one per device have no gap: (key, 0, None) by window,
    # which the sort gives too, besides groups with a used row but no sampling test
    assert [r for r in sorted_rows if r in by_window] == by_window
    extra = [r for r in sorted_rows if r not in by_window]
    assert all(v == 0 and gap is None for _, v, gap in extra)
    assert sum(v for _, v, _ in by_window) > 0 and any(gap == 0.0 for _, _, gap in by_window)


def test_gaps_in_order_across_batch_boundaries() -> None:
    """Gaps computed batch by batch are those of the whole sorted sequence, wherever the
    batches split it (a device's tests on both sides of a boundary included)."""
    import numpy as np

    from netmeasure.evaluate.engine import gaps_in_order

    rng = np.random.default_rng(3)
    device = np.sort(rng.integers(0, 4, 40))
    us = np.concatenate([np.sort(rng.integers(0, 10**8, (device == d).sum())) for d in range(4)])
    us[5] = us[4]  # a gap of 0
    group = rng.integers(0, 3, 40)
    expected: list[tuple[int, float | None]] = []
    for g in range(3):
        gaps = [
            (us[i] - us[i - 1]) / 1e6
            for i in range(1, 40)
            if device[i] == device[i - 1] and group[i] == g
        ]
        expected.append((sum(x < 20.0 for x in gaps), min(gaps) if gaps else None))
    for cut in range(0, 41):
        for second in (cut, min(cut + 7, 40)):
            parts = [(0, cut), (cut, second), (second, 40)]
            batches = [(device[a:b], us[a:b], group[a:b]) for a, b in parts]
            assert gaps_in_order(batches, 3, 20.0) == expected, (cut, second)
    assert gaps_in_order([], 2, 20.0) == [(0, None), (0, None)]


def test_int64_view_of_a_sliced_arrow_column() -> None:
    """int64_view reads an Arrow column's own rows, also a slice's (an offset into its
    buffer), and refuses what it cannot view (nulls, another type)."""
    import numpy as np
    import pyarrow as pa

    from netmeasure.evaluate.engine import int64_view

    column = pa.array(np.arange(10, dtype=np.int64) * 7).slice(3, 4)
    assert int64_view(column).tolist() == [21, 28, 35, 42]
    for bad in (pa.array([1, None], pa.int64()), pa.array([1, 2], pa.int32())):
        with pytest.raises(AssertionError):
            int64_view(bad)


def test_times_too_far_apart_for_a_gap_are_an_input_error(tmp_path: Path) -> None:
    """Two tests of one device at DuckDB's far ends of time (290,000 BC and AD): their gap
    does not fit 64 bits of microseconds. The spacing check says so (exit 2, naming the
    file) instead of a gap wrapped around to a negative number."""
    import duckdb

    from netmeasure.errors import InputError

    pq.write_table(campaign(50, probes=2, seed=1), tmp_path / "c.parquet")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""COPY (SELECT * EXCLUDE (k) REPLACE (
        CASE k WHEN 1 THEN TIMESTAMPTZ '290000-01-01 00:00:00+00'
               WHEN 2 THEN make_timestamptz(-9000000000000000000) ELSE started_at END
          AS started_at,
        CASE WHEN k IN (1, 2) THEN 'far' ELSE probe_id END AS probe_id)
      FROM (SELECT *, CASE WHEN metric = 'download' THEN row_number() OVER (
              PARTITION BY metric ORDER BY sample_id) END AS k
            FROM '{tmp_path / "c.parquet"}'))
      TO '{tmp_path / "far.parquet"}'""")
    con.close()
    with pytest.raises(InputError, match=r"far\.parquet: started_at: .*292,000 years apart"):
        evaluate(load_standard(QCVN), [str(tmp_path / "far.parquet")])


def test_gaps_in_order_refuses_a_wrapped_difference() -> None:
    import numpy as np

    from netmeasure.evaluate.engine import gaps_in_order

    far = np.array([-(2**62) * 3 // 2, 2**62 * 3 // 2], dtype=np.int64)
    with pytest.raises(OverflowError):
        gaps_in_order([(np.zeros(2, np.int64), far, np.zeros(2, np.int64))], 1, 30.0)
