"""The dashboard's live evaluation: running aggregates fed by the rows newer than a cursor.

Every new batch of rows is reduced by evaluate's own engine (DuckDB) exactly as
``netmeasure evaluate`` reduces a dataset: its per-cell sums (group, probe, cluster, day) and
its per-hour counts are additive, so they are merged into running totals. What is not
additive is kept in the smallest form that stays exact: per probe, the times of its sampling
tests (for ``min_spacing``; appended in order, recomputed for that probe alone when a test
arrives out of order) and, for median / percentile criteria, the values. The statistics and
verdicts are then computed by evaluate's verdict code (``evaluate_reduced``) on the merged
cells: the dashboard has no statistics of its own.

The finest grouping kept is (campaign, operator, area); a view (one campaign, by operator or
by operator and area) merges the cells of its groups, which is exact because cells add up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import tempfile
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from netmeasure import __version__
from netmeasure.collector.db import CollectorDB
from netmeasure.standard import Standard

#: The groups the running totals are kept by; views merge them.
FINE: Final = ("campaign", "operator", "area")
LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "operator": ("operator",),
    "area": ("operator", "area"),
}
#: The columns read from the collector (the engine fills the others with NULL).
READ_COLUMNS: Final = (
    "probe_id",
    "campaign",
    "started_at",
    "metric",
    "value",
    "ok",
    "error",
    "under_load",
    "environment",
    "area",
    "operator",
    "technology",
    "latitude",
    "longitude",
)
#: The map's hexagons are kept at this H3 resolution; coarser ones are their parents.
HEX_RESOLUTION: Final = 8
RECENT_POINTS: Final = 5000
BATCH_ROWS: Final = 250_000

_ADDITIVE_PREFIXES: Final = ("n_", "s_", "ss_", "k_", "ke_", "x_", "env_")


def _key(fields: dict[str, Any]) -> str:
    """A group's key as the engine writes it (DuckDB's to_json of a struct)."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def _parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class _ProbeTimes:
    """One probe's sampling tests (µs since the epoch, fine group index), in time order."""

    times: list[Any] = field(default_factory=list)  # numpy chunks
    groups: list[Any] = field(default_factory=list)
    last: int | None = None
    # fine group -> [violations, smallest gap s or None]
    result: dict[int, list[Any]] = field(default_factory=dict)


@dataclass
class _Activity:
    rows: int = 0
    failures: int = 0
    last_started: str | None = None
    last_received: str | None = None
    lag_s: float | None = None
    per_minute: dict[str, int] = field(default_factory=dict)  # received minute -> rows


class LiveEvaluation:
    """Running aggregates of one standard over a collector database."""

    def __init__(self, db: CollectorDB, std: Standard, *, batch_rows: int = BATCH_ROWS) -> None:
        self.db = db
        self.std = std
        self.batch_rows = batch_rows
        self.cursor: Any = None
        self.version = 0
        self.rows_read = 0
        self.loaded = False  # caught up with the database once
        self.lock = threading.RLock()
        self._fine: list[str] = []  # fine gkeys (index = position)
        self._fine_index: dict[str, int] = {}
        self._fine_fields: list[dict[str, Any]] = []
        self.cells: dict[tuple[str, Any, Any, Any], dict[str, Any]] = {}
        self.hours: dict[tuple[str, int], int] = defaultdict(int)
        self._probe_times: dict[Any, _ProbeTimes] = {}
        self._ranked: dict[str, dict[str, list[Any]]] = {
            c.id: defaultdict(list) for c in std.criteria if c.statistic in ("median", "percentile")
        }
        self.activity: dict[tuple[Any, Any], _Activity] = defaultdict(_Activity)
        # (campaign, operator, h3 cell at HEX_RESOLUTION) -> [ok tests, sum of values, failures]
        self.hexes: dict[tuple[Any, Any, str], list[float]] = defaultdict(lambda: [0, 0.0, 0])
        self.points: dict[Any, deque[list[Any]]] = defaultdict(lambda: deque(maxlen=RECENT_POINTS))
        self._views: dict[tuple[Any, str], tuple[int, dict[str, Any]]] = {}
        self._hex_views: dict[tuple[Any, int], tuple[int, list[dict[str, Any]]]] = {}
        self.last_update_s: float | None = None  # how long the last batch took

    # -- reading -------------------------------------------------------------------------

    def poll(self) -> int:
        """Read and merge every row newer than the cursor; return how many were read."""
        total = 0
        while True:
            rows, cursor = self.db.rows_after(self.cursor, READ_COLUMNS, self.batch_rows)
            if not rows:
                break
            start = time.perf_counter()
            self._merge_batch(rows)
            with self.lock:
                self.cursor = cursor
                self.rows_read += len(rows)
                self.version += 1
            self.last_update_s = time.perf_counter() - start
            total += len(rows)
            if len(rows) < self.batch_rows:
                break
        self.loaded = True
        return total

    def run(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        """Poll until ``stop`` is set (the collector's background thread)."""
        while not stop.is_set():
            try:
                n = self.poll()
            except Exception:  # a transient database error: try again next time
                n = 0
            if not n:
                stop.wait(interval_s)

    # -- one batch through the engine ------------------------------------------------------

    def _merge_batch(self, rows: list[tuple[Any, ...]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from netmeasure.evaluate.engine import Engine

        columns = list(zip(*rows, strict=True))
        types = {"value": pa.float64(), "latitude": pa.float64(), "longitude": pa.float64()}
        arrays = {}
        for i, name in enumerate(READ_COLUMNS):
            values = columns[i + 1]
            if name in ("ok", "under_load"):  # SQLite gives 0/1, PostgreSQL booleans
                arrays[name] = pa.array(values).cast(pa.bool_())
            else:
                arrays[name] = pa.array(values, type=types.get(name, pa.string()))
        arrays["received_at"] = pa.array(columns[-1], type=pa.string())
        table = pa.table(arrays)
        del columns
        std = self.std
        m = _sql_str(std.sampling.metric)
        with tempfile.TemporaryDirectory(prefix="nm-dash-") as tmp:
            path = Path(tmp) / "batch.parquet"
            pq.write_table(table, path, compression="none")
            engine = Engine([str(path)], memory_limit="512MB", threads=1)
            try:
                reduced = engine.reduce(std, list(FINE))
                con = engine.con
                # The engine's annotated view ``s`` (exclusions decided as evaluate decides
                # them) gives the rows the non-additive parts need.
                sampling = f"FROM s WHERE _excluded IS NULL AND metric = {m} AND NOT _ul"
                times = con.execute(
                    f"SELECT _gkey, probe_id, epoch_us(started_at) {sampling}"
                    " ORDER BY probe_id, started_at"
                ).fetchnumpy()
                places = con.execute(f"""
                    SELECT _gkey, latitude, longitude, count(*) FILTER (WHERE ok),
                           coalesce(sum(value) FILTER (WHERE ok), 0),
                           count(*) FILTER (WHERE NOT ok)
                    {sampling} AND latitude IS NOT NULL AND longitude IS NOT NULL
                    GROUP BY ALL""").fetchall()
                latest = con.execute(f"""
                    SELECT _gkey, latitude, longitude, CASE WHEN ok THEN value END, probe_id,
                           strftime(started_at, '%Y-%m-%dT%H:%M:%SZ')
                    {sampling} AND latitude IS NOT NULL AND longitude IS NOT NULL
                    ORDER BY started_at DESC LIMIT {RECENT_POINTS}""").fetchall()
                ranked: dict[str, list[tuple[str, float]]] = {}
                for c in std.criteria:
                    if c.id not in self._ranked:
                        continue
                    metrics = ", ".join(_sql_str(x) for x in c.metrics)
                    ranked[c.id] = con.execute(f"""
                        SELECT _gkey, value FROM s WHERE _excluded IS NULL AND ok
                          AND metric IN ({metrics})
                          AND _ul = {str(c.under_load).upper()}""").fetchall()
                # The fleet: from the batch as stored (every row, excluded or not).
                raw = f"read_parquet({_sql_str(str(path))})"
                activity = con.execute(f"""
                    SELECT campaign, probe_id, count(*), count(*) FILTER (WHERE NOT ok),
                           max(started_at), max(received_at)
                    FROM {raw} GROUP BY ALL""").fetchall()
                minutes = con.execute(f"""
                    SELECT campaign, probe_id, substr(received_at, 1, 16), count(*)
                    FROM {raw} GROUP BY ALL""").fetchall()
            finally:
                engine.close()
        with self.lock:
            self._merge_cells(reduced.cells)
            for (g, h), n in reduced.hours.items():
                self.hours[(g, h)] += n
            self._merge_spacing(times)
            for cid, pairs in ranked.items():
                by_group: dict[str, list[float]] = defaultdict(list)
                for g, v in pairs:
                    by_group[g].append(v)
                for g, vs in by_group.items():
                    self._ranked[cid][g].append(np.asarray(vs, dtype=float))
            self._merge_activity(activity, minutes)
            self._merge_map(places, latest)
            self._views.clear()
            self._hex_views.clear()

    def _fine_id(self, gkey: str) -> int:
        i = self._fine_index.get(gkey)
        if i is None:
            i = len(self._fine)
            self._fine.append(gkey)
            self._fine_index[gkey] = i
            self._fine_fields.append(json.loads(gkey))
        return i

    def _merge_cells(self, cells: list[dict[str, Any]]) -> None:
        for cell in cells:
            self._fine_id(cell["_gkey"])
            k = (cell["_gkey"], cell["probe_id"], cell["_cluster"], cell["_day"])
            have = self.cells.get(k)
            if have is None:
                self.cells[k] = dict(cell)
            else:
                _add_cell(have, cell)

    def _merge_spacing(self, times: dict[str, Any]) -> None:
        """Gaps between consecutive sampling tests of each probe (rows sorted by probe and
        time), attributed to the later test's group, as the engine's window computes them."""
        need = self.std.sampling.min_spacing_s
        if need is None or not len(times["probe_id"]):
            return
        gkeys = times["_gkey"]
        probes = times["probe_id"]
        stamps = np.asarray(times[next(k for k in times if k.startswith("epoch_us"))], np.int64)
        fine = np.fromiter((self._fine_id(g) for g in gkeys), dtype=np.int64, count=len(gkeys))
        # segment boundaries: where the probe changes
        change = np.flatnonzero(probes[1:] != probes[:-1]) + 1
        bounds = [0, *change.tolist(), len(probes)]
        for a, b in itertools.pairwise(bounds):
            probe = probes[a]
            t, g = stamps[a:b], fine[a:b]
            pt = self._probe_times.setdefault(probe, _ProbeTimes())
            if pt.last is None or t[0] >= pt.last:
                first = np.array([np.nan if pt.last is None else (t[0] - pt.last) / 1e6])
                gaps = np.concatenate([first, np.diff(t) / 1e6])
                _spacing_into(pt.result, g, gaps, need)
                pt.times.append(t)
                pt.groups.append(g)
            else:  # out of order: recompute this probe's gaps from all its tests
                all_t = np.concatenate([*pt.times, t])
                all_g = np.concatenate([*pt.groups, g])
                order = np.argsort(all_t, kind="stable")
                all_t, all_g = all_t[order], all_g[order]
                pt.times, pt.groups, pt.result = [all_t], [all_g], {}
                gaps = np.concatenate([[np.nan], np.diff(all_t) / 1e6])
                _spacing_into(pt.result, all_g, gaps, need)
            pt.last = int(max(pt.last or t[-1], t[-1]))

    def _merge_activity(
        self, activity: list[tuple[Any, ...]], minutes: list[tuple[Any, ...]]
    ) -> None:
        for campaign, probe, n, failures, started, received in activity:
            have = self.activity[(campaign, probe)]
            have.rows += int(n)
            have.failures += int(failures)
            if started and (have.last_started is None or started > have.last_started):
                have.last_started = started
            if received and (have.last_received is None or received >= have.last_received):
                have.last_received = received
                # the upload's time less its newest sample's start
                have.lag_s = _lag(received, started)
        for campaign, probe, minute, n in minutes:
            per_minute = self.activity[(campaign, probe)].per_minute
            per_minute[minute] = per_minute.get(minute, 0) + int(n)
            if len(per_minute) > 180:  # the last three hours are plenty
                for old in sorted(per_minute)[:-120]:
                    del per_minute[old]

    def _merge_map(self, places: list[tuple[Any, ...]], latest: list[tuple[Any, ...]]) -> None:
        import h3

        fields = self._fine_fields
        for g, lat, lon, n_ok, total, failures in places:
            f = fields[self._fine_id(g)]
            cell = h3.latlng_to_cell(lat, lon, HEX_RESOLUTION)
            slot = self.hexes[(f["campaign"], f["operator"], cell)]
            slot[0] += n_ok
            slot[1] += total
            slot[2] += failures
        for g, lat, lon, value, probe, started in reversed(latest):
            f = fields[self._fine_id(g)]
            self.points[f["campaign"]].append(
                [round(lat, 6), round(lon, 6), value, f["operator"], probe, started]
            )

    # -- views -----------------------------------------------------------------------------

    def campaigns(self) -> list[dict[str, Any]]:
        with self.lock:
            counts: dict[Any, int] = defaultdict(int)
            for (g, *_), cell in self.cells.items():
                counts[self._fine_fields[self._fine_index[g]]["campaign"]] += int(cell["n_rows"])
        return [
            {"campaign": c, "samples": n}
            for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        ]

    def evaluation(self, campaign: Any, level: str) -> dict[str, Any]:
        """evaluate's JSON (contracts.md §4) for one campaign, grouped by ``level``."""
        from netmeasure.evaluate.engine import Reduced
        from netmeasure.evaluate.verdict import evaluate_reduced, needed_ranks

        cols = LEVELS[level]
        with self.lock:
            cached = self._views.get((campaign, level))
            if cached and cached[0] == self.version:
                return cached[1]
            version = self.version
            rekey: dict[str, str | None] = {}
            for g, f in zip(self._fine, self._fine_fields, strict=True):
                rekey[g] = _key({c: f[c] for c in cols}) if f["campaign"] == campaign else None
            cells: dict[tuple[Any, ...], dict[str, Any]] = {}
            for (g, probe, cluster, day), cell in self.cells.items():
                new = rekey[g]
                if new is None:
                    continue
                k = (new, probe, cluster, day)
                have = cells.get(k)
                if have is None:
                    cells[k] = {**cell, "_gkey": new}
                else:
                    _add_cell(have, cell)
            hours: dict[tuple[str, int], int] = defaultdict(int)
            for (g, h), n in self.hours.items():
                new = rekey[g]
                if new is not None:
                    hours[(new, h)] += n
            spacing: dict[str, tuple[int, float | None]] = {}
            for pt in self._probe_times.values():
                for gi, (viol, gap) in pt.result.items():
                    new = rekey[self._fine[gi]]
                    if new is None:
                        continue
                    v0, g0 = spacing.get(new, (0, None))
                    gmin = gap if g0 is None else (g0 if gap is None else min(g0, gap))
                    spacing[new] = (v0 + viol, gmin)
            cell_list = sorted(
                cells.values(), key=lambda c: (c["_gkey"], str(c["probe_id"]), c["_day"])
            )
            ranked: dict[str, dict[str, dict[int, float]]] = {}
            for j, c in enumerate(self.std.criteria):
                if c.id not in self._ranked:
                    continue
                want = needed_ranks(self.std, j, c, cell_list)
                values: dict[str, list[Any]] = defaultdict(list)
                for g, chunks in self._ranked[c.id].items():
                    new = rekey[g]
                    if new is not None:
                        values[new].extend(chunks)
                ranked[c.id] = {}
                for g, ranks in want.items():
                    arr = np.concatenate(values[g]) if values[g] else np.array([])
                    ks = sorted(r - 1 for r in ranks if 1 <= r <= len(arr))
                    part = np.partition(arr, ks) if ks else arr
                    ranked[c.id][g] = {k + 1: float(part[k]) for k in ks}
        reduced = Reduced(cell_list, dict(hours), spacing, ranked, list(cols), [], None)
        result = evaluate_reduced(self.std, reduced, __version__).to_json()
        with self.lock:
            self._views[(campaign, level)] = (version, result)
        return result

    def fleet(self, campaign: Any, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        now = now or dt.datetime.now(dt.UTC)
        hour_ago = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        with self.lock:
            out = []
            for (c, probe), a in self.activity.items():
                if c != campaign:
                    continue
                recent = sum(n for m, n in a.per_minute.items() if m >= hour_ago)
                out.append(
                    {
                        "probe_id": probe,
                        "samples": a.rows,
                        "failures": a.failures,
                        "samples_per_hour": recent,
                        "last_sample": a.last_started,
                        "last_received": a.last_received,
                        "upload_lag_s": a.lag_s,
                    }
                )
        return sorted(out, key=lambda p: str(p["probe_id"]))

    def hexagons(self, campaign: Any, resolution: int) -> list[dict[str, Any]]:
        import h3

        acc: dict[tuple[Any, str], list[float]] = defaultdict(lambda: [0, 0.0, 0])
        with self.lock:
            cached = self._hex_views.get((campaign, resolution))
            if cached and cached[0] == self.version:
                return cached[1]
            version = self.version
            for (c, op, cell), (n, s, f) in self.hexes.items():
                if c != campaign:
                    continue
                parent = (
                    cell if resolution >= HEX_RESOLUTION else h3.cell_to_parent(cell, resolution)
                )
                slot = acc[(op, parent)]
                slot[0] += n
                slot[1] += s
                slot[2] += f
        out = [
            {
                "h3": cell,
                "operator": op,
                "tests": int(n + f),
                "failures": int(f),
                "mean": (s / n) if n else None,
                "boundary": [[round(a, 6), round(b, 6)] for a, b in h3.cell_to_boundary(cell)],
            }
            for (op, cell), (n, s, f) in sorted(
                acc.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])
            )
        ]
        with self.lock:
            self._hex_views[(campaign, resolution)] = (version, out)
        return out

    def recent_points(self, campaign: Any) -> list[list[Any]]:
        with self.lock:
            return list(self.points.get(campaign, ()))


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _add_cell(have: dict[str, Any], cell: dict[str, Any]) -> None:
    for k, v in cell.items():
        if k.startswith(_ADDITIVE_PREFIXES) or k in ("n_sampling", "n_used", "n_rows"):
            have[k] = (have[k] or 0) + (v or 0)
    if cell["t_min"] is not None and (have["t_min"] is None or cell["t_min"] < have["t_min"]):
        have["t_min"] = cell["t_min"]
    if cell["t_max"] is not None and (have["t_max"] is None or cell["t_max"] > have["t_max"]):
        have["t_max"] = cell["t_max"]
    if have["environment"] is None:
        have["environment"] = cell["environment"]


def _spacing_into(result: dict[int, list[Any]], groups: Any, gaps: Any, need: float) -> None:
    """Count gaps below ``need`` and the smallest gap per fine group (a NaN gap: none)."""
    for gi, gap in zip(groups.tolist(), gaps.tolist(), strict=True):
        slot = result.setdefault(gi, [0, None])
        if gap != gap:  # NaN: the probe's first test
            continue
        if gap < need:
            slot[0] += 1
        if slot[1] is None or gap < slot[1]:
            slot[1] = gap


def _lag(received: str, started: str) -> float | None:
    with contextlib.suppress(ValueError):
        return round(_parse_time(received) - _parse_time(started), 3)
    return None
