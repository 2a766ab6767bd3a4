"""The dashboard's running aggregates give exactly evaluate's numbers (same engine, same
verdict code), however the rows arrive: in many small batches, out of order, in campaigns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netmeasure.collector.dashboard.live import LiveEvaluation
from netmeasure.collector.db import connect
from netmeasure.samples import ALL_COLUMNS
from netmeasure.standard import load_standard
from netmeasure.synthetic import FileTransferTruth, campaign, file_transfer_campaign


def rows_of(table: Any, **over: Any) -> list[list[Any]]:
    out = []
    for r in table.to_pylist():
        r = {**r, **over}
        r["started_at"] = r["started_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if r["value"] is not None and r["value"] != r["value"]:
            r["value"] = None
        out.append([r[c] for c in ALL_COLUMNS])
    return out


def fill(db: Any, rows: list[list[Any]], batch: int = 700) -> None:
    by_probe: dict[str, list[list[Any]]] = {}
    for r in rows:
        by_probe.setdefault(r[ALL_COLUMNS.index("probe_id")], []).append(r)
    for probe, rs in by_probe.items():
        if probe not in {p.probe_id for p in db.probes()}:
            db.add_probe(probe, f"hash-{probe}")
        for i in range(0, len(rs), batch):
            db.insert(probe, rs[i : i + batch])


def strip(ev: dict[str, Any]) -> dict[str, Any]:
    """What both must agree on: every group's verdicts, criteria, sampling, counts."""
    groups = sorted(ev["groups"], key=lambda g: json.dumps(g["key"]))
    return {
        "verdict": ev["verdict"],
        "letter_verdict": ev["letter_verdict"],
        "groups": [
            {
                k: g[k]
                for k in (
                    "key",
                    "verdict",
                    "letter_verdict",
                    "n_samples",
                    "excluded",
                    "sampling",
                    "criteria",
                    "n_probes",
                    "period",
                    "hours",
                    "days",
                )
            }
            for g in groups
        ],
    }


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to 1e-9 relative: sums of many values differ in their last bits with
    the order they were added in (batches here, one scan there)."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.parametrize("std_id", ["vn-qcvn-126-2021", "fcc-5g-fund", "itu-r-m2410-embb"])
def test_live_equals_evaluate_json(tmp_path: Path, std_id: str, netmeasure: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = connect(url)
    rows = rows_of(campaign(2400, probes=12, interval_s=40, seed=3), campaign="hanoi")
    # out of order for one probe: its late tests arrive after newer ones were read
    late = [r for r in rows if r[2] == "probe-004"][-300:]
    first = [r for r in rows if r not in late]
    fill(db, first[: len(first) // 2])
    std = load_standard(std_id)
    live = LiveEvaluation(db, std, batch_rows=1500)
    live.poll()
    fill(db, first[len(first) // 2 :])
    live.poll()
    fill(db, late)
    assert live.poll() == len(late)
    got = live.evaluation("hanoi", "operator")
    res = netmeasure("evaluate", "--standard", std_id, "--group-by", "operator", "--json", url)
    want = json.loads(res.stdout)
    same(strip(got), strip(want))
    assert len(got["groups"]) == 3
    # by operator and hexagon (the samples spread over several)
    got = live.evaluation("hanoi", "h3_8")
    res = netmeasure("evaluate", "--standard", std_id, "--group-by", "operator,h3_8", "--json", url)
    want = json.loads(res.stdout)
    assert len(want["groups"]) > 3
    same(strip(got), strip(want))
    # by operator and area too
    got = live.evaluation("hanoi", "area")
    res = netmeasure("evaluate", "--standard", std_id, "--group-by", "operator,area", "--json", url)
    same(strip(got), strip(json.loads(res.stdout)))
    db.close()


def test_live_equals_evaluate_on_qcvn_section_2_1(tmp_path: Path, netmeasure: Any) -> None:
    """Every QCVN 126 §2.1 criterion (availability in dBm, access_failure_ratio, the access
    delay, cutoff_ratio, the file-transfer rates) and the test-system exclusions: the same
    on the dashboard's running tables as in evaluate, floats to 1e-9."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = connect(url)
    truth = FileTransferTruth(test_system_ratio=0.03, cutoff_ratio=0.03, no_service_ratio=0.05)
    table = file_transfer_campaign(900, probes=9, interval_s=45, seed=5, truth=truth)
    rows = rows_of(table, campaign="hanoi")
    fill(db, rows[: len(rows) // 3])
    std = load_standard("vn-qcvn-126-2021")
    live = LiveEvaluation(db, std, batch_rows=1000)
    live.poll()
    fill(db, rows[len(rows) // 3 :])
    live.poll()
    got = live.evaluation("hanoi", "operator")
    res = netmeasure(
        "evaluate", "--standard", "vn-qcvn-126-2021", "--group-by", "operator", "--json", url
    )
    want = json.loads(res.stdout)
    same(strip(got), strip(want))
    assert len(want["groups"]) == 3
    for g in want["groups"]:
        assert all(c["measured"] and c["n"] > 0 for c in g["criteria"])
    assert sum(g["excluded"]["test_system"] for g in want["groups"]) > 0
    db.close()


def test_campaigns_are_kept_apart(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'c.db'}")
    fill(db, rows_of(campaign(300, probes=3, seed=1), campaign="a"))
    fill(db, rows_of(campaign(150, probes=3, seed=2), campaign="b"))
    live = LiveEvaluation(db, load_standard("vn-qcvn-126-2021"))
    live.poll()
    assert live.campaigns() == [
        {"campaign": "a", "samples": 900},
        {"campaign": "b", "samples": 450},
    ]
    a = live.evaluation("a", "operator")
    assert sum(g["n_samples"] for g in a["groups"]) == 900
    fleet = live.fleet("b")
    assert [p["probe_id"] for p in fleet] == ["probe-000", "probe-001", "probe-002"]
    assert sum(p["samples"] for p in fleet) == 450
    assert all(p["upload_lag_s"] is not None for p in fleet)
    hexes = live.hexagons("a", 8)
    assert sum(h["tests"] for h in hexes) == 300  # one download per test
    assert live.hexagons("a", 5) and len(live.hexagons("a", 5)) <= len(hexes)
    db.close()


def test_add_viewer_prints_the_token_once_and_stores_its_hash(
    tmp_path: Path, netmeasure: Any
) -> None:
    from netmeasure.collector.tokens import token_hash

    url = f"sqlite:///{tmp_path / 'c.db'}"
    res = netmeasure("collector", "add-viewer", "wall-screen", "--database", url)
    assert res.exit_code == 0, res.stderr
    token = res.stdout.strip()
    assert token.startswith("nmv_") and len(token) > 40
    assert "not shown again" in res.stderr
    db = connect(url)
    assert db.viewer_for_token(token_hash(token)) == "wall-screen"
    assert db.viewer_for_token(token_hash(token + "x")) is None
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("c.db*"))
    assert token.encode() not in raw and token_hash(token).encode() in raw
    res = netmeasure("collector", "add-viewer", "wall-screen", "--database", url)
    assert res.exit_code == 2 and "exists already" in res.stderr
    res = netmeasure("collector", "add-viewer", "wall-screen", "--database", url, "--rotate")
    assert res.exit_code == 0 and res.stdout.strip() != token


def test_a_bad_basemap_is_a_message(tmp_path: Path, netmeasure: Any) -> None:
    from netmeasure.collector.dashboard.basemap import load_basemap

    bad = tmp_path / "provinces.geojson"
    for text, says in (
        ("{not json", "not JSON"),
        ('{"type": "Topology"}', "key 'type'"),
        ('{"type": "FeatureCollection", "features": []}', "no Polygon"),
    ):
        bad.write_text(text)
        res = netmeasure("collector", "serve", "--basemap", bad, "--database", "sqlite:///x.db")
        assert res.exit_code == 2 and str(bad) in res.stderr and says in res.stderr
        assert "Traceback" not in res.stderr
    good = tmp_path / "good.geojson"
    good.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {"name": "Hà Nội <b>"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[105, 21], [106, 21], [105, 22], [105, 21]]],
                },
            }
        )
    )
    doc = json.loads(load_basemap(good))
    assert doc["features"][0]["properties"]["name"] == "Hà Nội <b>"
    shipped = json.loads(load_basemap(None))
    assert any(f["properties"]["name"] == "Vietnam" for f in shipped["features"])


@pytest.mark.postgres
def test_live_on_postgresql_equals_evaluate_json(tmp_path: Path, netmeasure: Any) -> None:
    """The cursor on PostgreSQL follows transaction ids (db.PostgresDB.rows_after): rows
    are read as soon as they are committed."""
    import os

    from conftest import free_port
    from netmeasure.collector.dashboard.aggregator import load_state, save_state
    from pgserver import PostgresServer, binaries

    if binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: 'make test' installs it")
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    server = PostgresServer(free_port()).start()
    try:
        url = server.new_database("dashlive")
        db = connect(url)
        rows = rows_of(campaign(900, probes=6, interval_s=40, seed=7), campaign="hcmc")
        fill(db, rows[: len(rows) // 2])
        std = load_standard("vn-qcvn-126-2021")
        reader = CountingReader(url)  # the aggregator's reader
        live = LiveEvaluation(reader, std, batch_rows=500)
        assert live.poll() == len(rows) // 2
        state = tmp_path / "pg.state"
        save_state(state, live, reader)
        fill(db, rows[len(rows) // 2 :])
        rest = len(rows) - len(rows) // 2
        assert live.poll() == rest  # committed: read at once
        got = live.evaluation("hcmc", "operator")
        res = netmeasure(
            "evaluate", "--standard", "vn-qcvn-126-2021", "--group-by", "operator", "--json", url
        )
        want = strip(json.loads(res.stdout))
        same(strip(got), want)
        # a restart resumes after the cursor
        again = CountingReader(url)
        resumed = LiveEvaluation(again, std, batch_rows=500)
        assert "resumed after" in load_state(state, resumed, again)
        assert resumed.poll() == rest and again.rows == rest
        same(strip(resumed.evaluation("hcmc", "operator")), want)
        reader.close()
        again.close()
        db.close()
    finally:
        server.stop()


class CountingReader:
    """The aggregator's read-only reader, counting the rows it hands out."""

    def __init__(self, url: str) -> None:
        from netmeasure.collector.dashboard.aggregator import open_reader

        self.inner = open_reader(url)
        self.rows = 0

    def rows_after(self, cursor: Any, columns: Any, limit: int) -> Any:
        rows, after = self.inner.rows_after(cursor, columns, limit)
        self.rows += len(rows)
        return rows, after

    def anchor(self, cursor: Any) -> Any:
        return self.inner.anchor(cursor)

    def close(self) -> None:
        self.inner.close()


def test_a_restart_resumes_from_the_state_file(tmp_path: Path, netmeasure: Any) -> None:
    import datetime as dt

    from netmeasure.collector.dashboard.aggregator import load_state, save_state

    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = connect(url)
    rows = rows_of(campaign(1800, probes=9, interval_s=40, seed=5), campaign="hanoi")
    half = len(rows) // 2
    fill(db, rows[:half])
    std = load_standard("vn-qcvn-126-2021")
    state = tmp_path / "state" / "vn-qcvn-126-2021.state"
    before = CountingReader(url)
    live = LiveEvaluation(before, std, batch_rows=1000)
    assert live.poll() == half
    save_state(state, live, before)
    assert state.stat().st_mode & 0o777 == 0o600
    fill(db, rows[half:])  # arrive while the collector is down

    reader = CountingReader(url)
    resumed = LiveEvaluation(reader, std, batch_rows=1000)
    assert "resumed after" in load_state(state, resumed, reader)
    assert reader.rows == 0
    assert resumed.poll() == len(rows) - half
    assert reader.rows == len(rows) - half  # nothing before the cursor was read again
    assert resumed.rows_read == len(rows)

    fresh = LiveEvaluation(CountingReader(url), std, batch_rows=1000)
    assert fresh.poll() == len(rows)
    for level in ("operator", "area", "h3_8"):
        same(strip(resumed.evaluation("hanoi", level)), strip(fresh.evaluation("hanoi", level)))
    now = dt.datetime.now(dt.UTC)
    assert resumed.fleet("hanoi", now) == fresh.fleet("hanoi", now)
    same(resumed.hexagons("hanoi", 8), fresh.hexagons("hanoi", 8))
    # the same points (their order is the order of arrival, batch by batch)
    assert sorted(map(str, resumed.recent_points("hanoi"))) == sorted(
        map(str, fresh.recent_points("hanoi"))
    )
    assert len(fresh.recent_points("hanoi")) == 1800
    res = netmeasure("evaluate", "--standard", std.meta.id, "--group-by", "operator", "--json", url)
    same(strip(resumed.evaluation("hanoi", "operator")), strip(json.loads(res.stdout)))
    db.close()


def test_a_state_file_of_another_database_or_standard_is_not_taken(tmp_path: Path) -> None:
    from netmeasure.collector.dashboard.aggregator import load_state, save_state

    urls = [f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("a", "b")]
    for url, seed in zip(urls, (1, 2), strict=True):
        db = connect(url)
        fill(db, rows_of(campaign(300, probes=3, seed=seed), campaign="c"))
        db.close()
    std = load_standard("vn-qcvn-126-2021")
    state = tmp_path / "a.state"
    reader = CountingReader(urls[0])
    live = LiveEvaluation(reader, std)
    live.poll()
    save_state(state, live, reader)
    # another database (its row at the cursor has another sample_id): read from the start
    other = CountingReader(urls[1])
    live_b = LiveEvaluation(other, std)
    assert "another database" in load_state(state, live_b, other)
    assert live_b.poll() == 900
    # another standard
    again = CountingReader(urls[0])
    live_c = LiveEvaluation(again, load_standard("fcc-5g-fund"))
    assert "another version or standard" in load_state(state, live_c, again)
    assert live_c.poll() == 900
    # a file others could have written (it holds no code, but it is what the page shows)
    state.chmod(0o666)
    live_e = LiveEvaluation(CountingReader(urls[0]), std)
    assert "not this user's own" in load_state(state, live_e, CountingReader(urls[0]))
    assert live_e.poll() == 900
    state.chmod(0o600)
    tmp_path.chmod(0o777)
    assert "not this user's own" in load_state(state, live_e, CountingReader(urls[0]))
    tmp_path.chmod(0o755)
    # a damaged file
    state.write_bytes(b"not a state file")
    live_d = LiveEvaluation(CountingReader(urls[0]), std)
    assert "unreadable" in load_state(state, live_d, CountingReader(urls[0]))
    assert live_d.poll() == 900


def test_the_card_heads_with_an_exclusion_that_removed_most_samples() -> None:
    """Issue 25: the dashboard showed "0 samples · 0 probes — IN PROGRESS" beside a selector
    reading 217, and never said why (every sample of another technology)."""
    from netmeasure.collector.dashboard.views import _excluded_most

    std = {"technology": ["5G-SA", "5G-NSA"]}
    most = _excluded_most({"n_samples": 0, "excluded": {"technology": 217}}, std)
    assert most == {
        "reason": "technology",
        "excluded": 217,
        "total": 217,
        "text": "technology not covered by the standard (the standard keeps 5G-SA, 5G-NSA only)",
    }
    few = {"n_samples": 300, "excluded": {"technology": 10, "duplicate": 5}}
    assert _excluded_most(few, std) is None


def test_live_counts_unsynchronised_clocks_as_evaluate_does(
    tmp_path: Path, netmeasure: Any
) -> None:
    """Issue 23: rows with ``clock_synced = false`` are excluded (``clock_unsynced``) by the
    running aggregates exactly as evaluate excludes them; NULL rows are used."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = connect(url)
    rows = rows_of(campaign(900, probes=6, interval_s=40, seed=8), campaign="hanoi")
    at = ALL_COLUMNS.index("clock_synced")
    for i, r in enumerate(rows):
        r[at] = [True, False, None][i % 3]
    fill(db, rows[:500])
    live = LiveEvaluation(db, load_standard("vn-qcvn-126-2021"), batch_rows=300)
    live.poll()
    fill(db, rows[500:])
    live.poll()
    got = live.evaluation("hanoi", "operator")
    res = netmeasure(
        "evaluate", "--standard", "vn-qcvn-126-2021", "--group-by", "operator", "--json", url
    )
    want = json.loads(res.stdout)
    same(strip(got), strip(want))
    unsynced = sum(r[at] is False for r in rows)
    # every unsynchronised row not excluded for an earlier reason (a technology, a value)
    got_n = sum(g["excluded"]["clock_unsynced"] for g in want["groups"])
    assert 0.9 * unsynced <= got_n <= unsynced
    db.close()
