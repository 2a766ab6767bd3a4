"""Stale-probe alerts on the collector's /metrics (Prometheus): each probe's last upload time,
a per-probe stale flag and the count of stale probes, by the dashboard's own staleness rule."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from netmeasure.collector.app import create_app
from netmeasure.collector.db import connect
from netmeasure.synthetic import campaign
from test_dashboard_hardening import _asgi
from test_dashboard_live import fill, rows_of


def scrape(app: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer: list[bytes] = []
    assert asyncio.run(_asgi(app, "GET", "/metrics", b"", {}, answer)) == 200
    out = {}
    for family in text_string_to_metric_families(b"".join(answer).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_stale_probes_on_metrics(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = connect(f"sqlite:///{path}")
    rows = rows_of(campaign(20, probes=1, seed=1), campaign="c")
    fill(db, rows)  # probe-000 uploads now
    db.add_probe("never", "hash-never")
    fill(db, rows_of(campaign(10, probes=1, seed=2), campaign="c", probe_id="silent"))
    db.close()
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with sqlite3.connect(path) as con:  # "silent" last uploaded two hours ago
        con.execute(
            "UPDATE probes SET last_seen = ? WHERE probe_id = 'silent'",
            (two_hours_ago.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),),
        )
    db = connect(f"sqlite:///{path}")
    before = dt.datetime.now(dt.UTC).timestamp()
    m = scrape(create_app(db))  # without a dashboard: the default 15 min
    assert m[("netmeasure_stale_after_seconds", ())] == 900.0
    assert m[("netmeasure_probes_stale", ())] == 2.0  # "silent" and "never"
    flag = {k[1][0][1]: v for k, v in m.items() if k[0] == "netmeasure_probe_stale"}
    assert flag == {"probe-000": 0.0, "silent": 1.0, "never": 1.0}
    seen = {
        k[1][0][1]: v
        for k, v in m.items()
        if k[0] == "netmeasure_probe_last_seen_timestamp_seconds"
    }
    assert set(seen) == {"probe-000", "silent"}  # "never" has no time, only its flag
    assert abs(seen["silent"] - two_hours_ago.timestamp()) < 2
    assert before - 60 < seen["probe-000"] <= dt.datetime.now(dt.UTC).timestamp() + 1

    # the dashboard's --stale-after (collector serve) is the metric's too: 3 h makes
    # "silent" fresh again
    from netmeasure.collector.dashboard.routes import DashboardConfig

    board = DashboardConfig(basemap=b"{}", stale_after_s=3 * 3600.0, state_dir=tmp_path / "s")
    m = scrape(create_app(db, dashboard=board))
    assert m[("netmeasure_probes_stale", ())] == 1.0
    assert m[("netmeasure_stale_after_seconds", ())] == 10800.0
    db.close()
