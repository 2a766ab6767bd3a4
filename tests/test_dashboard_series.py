"""The dashboard's time series and measured-per-hour: by the hour each test started
(``started_at``), never by upload time, and the same numbers evaluate counts."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from netmeasure.collector.dashboard import statefile, views
from netmeasure.collector.dashboard.aggregator import fingerprint
from netmeasure.collector.dashboard.live import STATE_TABLES, LiveEvaluation
from netmeasure.collector.db import connect
from netmeasure.samples import ALL_COLUMNS
from netmeasure.standard import load_standard
from netmeasure.synthetic import campaign
from test_dashboard_live import fill, rows_of

STD = "vn-qcvn-126-2021"


def hourly(rows: list[list[Any]], metric: str) -> dict[tuple[str, str], tuple[float, int]]:
    """(operator, hour) -> (mean of the completed tests, tests), straight from the rows."""
    col = {c: i for i, c in enumerate(ALL_COLUMNS)}
    acc: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0, 0])
    for r in rows:
        if r[col["metric"]] != metric:
            continue
        hour = r[col["started_at"]][:13] + ":00:00Z"
        slot = acc[(r[col["operator"]], hour)]
        slot[2] += 1
        if r[col["ok"]]:
            slot[0] += r[col["value"]]
            slot[1] += 1
    return {k: (s / n, int(t)) for k, (s, n, t) in acc.items() if n}


def test_series_is_hourly_by_started_at_and_matches_evaluate(
    tmp_path: Path, netmeasure: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = connect(url)
    rows = rows_of(campaign(1200, probes=6, interval_s=300, seed=5), campaign="hanoi")
    fill(db, rows[: len(rows) // 3])
    live = LiveEvaluation(db, load_standard(STD), batch_rows=900)
    live.poll()
    fill(db, rows[len(rows) // 3 :])
    live.poll()
    body = views.series_body(live, "hanoi")
    assert set(body["metrics"]) == {"download", "upload", "latency"}
    assert body["metrics"]["download"]["unit"] == "bit/s"
    assert body["metrics"]["latency"]["unit"] == "ms"
    for metric in ("download", "latency"):
        want = hourly(rows, metric)
        got = {
            (op, p["hour"]): (p["mean"], p["tests"])
            for op, points in body["metrics"][metric]["operators"].items()
            for p in points
        }
        assert got.keys() == want.keys() and len(got) > 50
        for k, (mean, tests) in got.items():
            assert mean == pytest.approx(want[k][0], rel=1e-9), k
            assert tests == want[k][1], k
    # every sample evaluate counts (download, upload, latency) is in exactly one hour
    res = netmeasure("evaluate", "--standard", STD, "--group-by", "operator", "--json", url)
    groups = json.loads(res.stdout)["groups"]
    assert len(groups) == 3
    for g in groups:
        op = g["key"]["operator"]
        assert g["n_samples"] == sum(
            p["tests"] for m in body["metrics"].values() for p in m["operators"][op]
        )
    # the series survives the state file (JSON + Arrow IPC) and a restart
    snap = live.snapshot()
    buf = io.BytesIO()
    statefile.dump({**fingerprint(live.std), "anchor": None, "snapshot": snap}, buf)
    buf.seek(0)
    record = statefile.load(buf)
    statefile.check_record(record, frozenset(STATE_TABLES))
    again = LiveEvaluation(db, load_standard(STD))
    again.restore(record["snapshot"])
    assert views.series_body(again, "hanoi")["metrics"] == body["metrics"]
    db.close()


def test_samples_per_hour_counts_measurements_not_uploads(tmp_path: Path) -> None:
    """A probe back-filling four days in one upload measured nothing in the last hour; one
    measuring every 200 s shows the rows it started in the last hour."""
    db = connect(f"sqlite:///{tmp_path / 'c.db'}")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old = rows_of(
        campaign(500, probes=1, interval_s=700, seed=1, start="2026-10-01T00:00:00Z"),
        campaign="c",
        probe_id="backfill",
    )
    start = (now - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fresh = rows_of(
        campaign(54, probes=1, interval_s=200, seed=2, start=start),
        campaign="c",
        probe_id="live",
    )
    fill(db, old + fresh)
    live = LiveEvaluation(db, load_standard(STD))
    live.poll()
    fleet = {p["probe_id"]: p for p in live.fleet("c", now)}
    assert fleet["backfill"]["samples"] == 1500
    assert fleet["backfill"]["samples_per_hour"] == 0  # it was 1,500 by upload time
    col = ALL_COLUMNS.index("started_at")
    hour_ago = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    want = sum(1 for r in fresh if r[col][:16] >= hour_ago)
    assert 0 < want < 200  # tens of tests an hour, three rows each
    assert fleet["live"]["samples_per_hour"] == want
    db.close()
