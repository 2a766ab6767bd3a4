"""Issue 23, evaluate's side of "times you can trust": rows of a probe that never
synchronised its clock are excluded with a counted reason (``clock_unsynced``), and the
spacing check reads the monotonic clock within a boot, on DuckDB (its sort and its window),
Spark and the dashboard's live engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from netmeasure.evaluate import evaluate
from netmeasure.evaluate.results import Evaluation
from netmeasure.export import rows_to_arrow
from netmeasure.standard import load_standard
from netmeasure.synthetic import campaign

QCVN = "vn-qcvn-126-2021"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _row(i: int, wall: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "sample_id": f"s{i}",
        "test_id": f"t{i}",
        "probe_id": "p1",
        "operator": "op",
        "metric": "download",
        "value": 50e6,
        "ok": True,
        "started_at": wall.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tool": "curl",
        "technology": "5G-SA",
        "under_load": False,
        "environment": "indoor",
        **kw,
    }


def stepped_back(n: int = 12, ahead_s: float = 100.0, step_at: int = 6) -> list[dict[str, Any]]:
    """The issue's probe: tests 32 s apart by the monotonic clock, the wall clock 100 s
    ahead for the first ``step_at`` tests, then stepped back to the right time."""
    rows = []
    for i in range(n):
        true = T0 + timedelta(seconds=32 * i)
        wall = true + timedelta(seconds=ahead_s if i < step_at else 0)
        rows.append(
            _row(i, wall, clock_synced=True, boot_id="boot-a", monotonic_s=5000.25 + 32 * i)
        )
    return rows


def wall_violations(rows: list[dict[str, Any]], need: float) -> int:
    """The violations by wall time alone (what the spacing counted before issue 23)."""
    t = np.sort(
        [datetime.fromisoformat(r["started_at"]).timestamp() for r in rows if r["ok"] is not None]
    )
    return int((np.diff(t) < need).sum())


def write(tmp_path: Path, rows: list[dict[str, Any]], name: str = "x.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(rows_to_arrow(rows), path)
    return path


def spacing(ev: Evaluation) -> Any:
    (g,) = ev.groups
    return next(s for s in g.sampling if s.requirement == "min_spacing")


def test_the_stepped_back_probe_has_no_spacing_violation(tmp_path: Path) -> None:
    rows = stepped_back()
    assert wall_violations(rows, 30.0) >= 5  # the false violations exist on the wall
    got = evaluate(load_standard(QCVN), [str(write(tmp_path, rows))])
    s = spacing(got)
    assert s.violations == 0 and s.ok
    assert s.actual == pytest.approx(32.0, abs=1e-6)  # the shortest gap: the monotonic one
    # without the monotonic facts the same rows are judged by the wall clock, as before
    bare = [{**r, "boot_id": None, "monotonic_s": None} for r in rows]
    s = spacing(evaluate(load_standard(QCVN), [str(write(tmp_path, bare, "b.parquet"))]))
    assert s.violations == wall_violations(rows, 30.0) and not s.ok


def test_real_violations_within_a_boot_are_still_counted(tmp_path: Path) -> None:
    """Tests 20 s apart by the monotonic clock while the wall clock says 40 s: violations."""
    rows = [
        _row(
            i, T0 + timedelta(seconds=40 * i), clock_synced=True, boot_id="b", monotonic_s=20.0 * i
        )
        for i in range(5)
    ]
    s = spacing(evaluate(load_standard(QCVN), [str(write(tmp_path, rows))]))
    assert s.violations == 4 and s.actual == pytest.approx(20.0)
    # across two boots (a reboot between tests 2 and 3), that pair is judged by wall time
    for r in rows[3:]:
        r["boot_id"] = "c"
        r["monotonic_s"] = r["monotonic_s"] - 60.0  # the new boot's clock starts again
    s = spacing(evaluate(load_standard(QCVN), [str(write(tmp_path, rows, "c.parquet"))]))
    assert s.violations == 3


def test_unsynchronised_rows_are_counted_and_never_used(tmp_path: Path) -> None:
    rows = []
    for i in range(30):
        synced = [True, False, None][i % 3]
        rows.append(
            _row(i, T0 + timedelta(seconds=60 * i), clock_synced=synced, value=float(10 + i))
        )
    (g,) = evaluate(load_standard(QCVN), [str(write(tmp_path, rows))]).groups
    assert g.excluded["clock_unsynced"] == 10
    assert sum(g.excluded.values()) == 10
    mean = next(c for c in g.criteria if c.id == "dl-mean")
    used = [r["value"] for r in rows if r["clock_synced"] is not False]
    assert mean.n == 20 and mean.estimate == pytest.approx(np.mean(used), rel=1e-12)
    assert g.to_json()["excluded"]["clock_unsynced"] == 10


def test_days_are_the_wall_times_once_retimed(tmp_path: Path) -> None:
    """Samples the probe re-timed after it synchronised carry right wall times: the days
    counted are theirs, whatever the monotonic clock's origin."""
    rows = []
    for i in range(9):
        wall = T0 + timedelta(days=i // 3, seconds=3600 * (i % 3))
        rows.append(_row(i, wall, clock_synced=True, boot_id="b", monotonic_s=10.0 + 40 * i))
    (g,) = evaluate(load_standard(QCVN), [str(write(tmp_path, rows))]).groups
    assert g.days == {"2026-11-02": 3, "2026-11-03": 3, "2026-11-04": 3}
    s = spacing(evaluate(load_standard(QCVN), [str(write(tmp_path, rows, "d.parquet"))]))
    assert s.violations == 0 and s.actual == pytest.approx(40.0)


def test_json_without_the_clock_columns_is_unchanged(tmp_path: Path) -> None:
    """Data without the new columns: no ``clock_unsynced`` key, and the spacing is the wall
    clock's, as an independent numpy computation gives it."""
    table = campaign(1200, probes=4, interval_s=20, seed=11)
    path = tmp_path / "c.parquet"
    pq.write_table(table, path)
    got = evaluate(load_standard(QCVN), [str(path)], group_by=["probe_id"])
    df = table.to_pandas()
    for g in got.groups:
        j = g.to_json()
        assert "clock_unsynced" not in j["excluded"]
        d = df[(df.probe_id == g.key["probe_id"]) & (df.metric == "download")]
        t = np.sort(np.array([x.timestamp() for x in d.started_at]))
        gaps = np.diff(t)
        s = spacing_of(g)
        assert s.violations == int((gaps < 30.0).sum())
        assert s.actual == pytest.approx(gaps.min(), abs=1e-6)


def spacing_of(g: Any) -> Any:
    return next(s for s in g.sampling if s.requirement == "min_spacing")


def test_duckdb_sort_and_window_agree_on_monotonic_times(tmp_path: Path) -> None:
    from netmeasure.evaluate.engine import DuckDBEngine
    from netmeasure.evaluate.plan import Plan, annotate

    rows = stepped_back() + [
        _row(100 + i, T0 + timedelta(seconds=25 * i), probe_id="p2") for i in range(6)
    ]
    engine = DuckDBEngine([str(write(tmp_path, rows))])
    try:
        plan = annotate(engine, Plan(load_standard(QCVN), ("probe_id",), engine.dialect))
        for sql in plan.sets_statements().values():
            engine.execute(sql)
        window, by_sort = plan.spacing_sql(), plan.spacing_by_sort()
        assert window is not None and by_sort is not None
        by_window = sorted(engine.fetch(window))
        by_sorting = sorted(engine.spacing(window, by_sort))
    finally:
        engine.close()
    assert by_window == by_sorting
    got = {json.loads(k)["probe_id"]: (v, gap) for k, v, gap in by_window}
    assert got["p1"][0] == 0 and got["p1"][1] == pytest.approx(32.0)
    assert got["p2"] == (5, pytest.approx(25.0))


@pytest.mark.spark
def test_spark_gives_duckdbs_figures(tmp_path: Path) -> None:
    """Spark's window over the placed times, and its exclusions, as DuckDB's sort gives."""
    from netmeasure.evaluate.spark_session import SparkOptions

    rows = stepped_back() + [
        _row(200 + i, T0 + timedelta(seconds=60 * i), probe_id="p3", clock_synced=i % 2 == 0)
        for i in range(8)
    ]
    path = str(write(tmp_path, rows))
    std = load_standard(QCVN)
    duck = evaluate(std, [path], group_by=["probe_id"]).to_json()
    spark = evaluate(
        std, [path], group_by=["probe_id"], engine="spark", spark=SparkOptions("local[2]")
    ).to_json()
    by = {g["key"]["probe_id"]: g for g in duck["groups"]}
    assert by["p3"]["excluded"]["clock_unsynced"] == 4
    assert (
        next(s for s in by["p1"]["sampling"] if s["requirement"] == "min_spacing")["violations"]
        == 0
    )
    for d, s in zip(duck["groups"], spark["groups"], strict=True):
        assert d["excluded"] == s["excluded"]
        assert d["sampling"] == s["sampling"]
        assert d["days"] == s["days"] and d["n_samples"] == s["n_samples"]
