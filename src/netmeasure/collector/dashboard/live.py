"""The dashboard's live evaluation: running aggregates fed by the rows newer than a cursor.

Every new batch of rows goes through evaluate's plan (netmeasure/evaluate/plan.py) on DuckDB
exactly as ``netmeasure evaluate`` reads a dataset: the annotated view (exclusions decided as
evaluate decides them) and the one scan into ``_sets``, whose sums add up across batches;
its rows are appended to a running table. What does not add up is kept in the smallest form
that stays exact: per probe, the times of its sampling tests (``min_spacing``; appended in
order, recomputed for that probe alone when a test arrives late), and for median / percentile
criteria the values.

A view (one campaign, by operator or by operator and area) runs evaluate's own pipeline
(``pipeline.run``: the plan's queries, the statistics, the verdicts) on ``LiveEngine``, an
engine whose ``_sets`` is the running table of the campaign and whose gaps come from the
running totals: the dashboard has no statistics of its own, and a poll costs the new rows,
never a re-evaluation of the database.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from netmeasure import __version__
from netmeasure.evaluate.dialect import duckdb_literal, quote
from netmeasure.record import COLUMN_TYPES, EXCLUSION_REASONS, arrow_schema, epoch_s
from netmeasure.standard import Standard

if TYPE_CHECKING:
    from netmeasure.campaign_plan import CampaignPlan
    from netmeasure.evaluate.engine import SortedTimes
    from netmeasure.evaluate.plan import Plan

#: The groups the running totals (hours, gaps, values) are kept by; views merge them.
FINE: Final = ("campaign", "operator", "area", "h3_8")
#: The running gaps between tests (``min_spacing``), by what they
#: are grouped by: one for operators and areas, one for hexagons (kept apart: mobile probes
#: make many hexagons, which the views by operator need not read).
KINDS: Final = {
    "area": ("campaign", "operator", "area"),
    "hex": ("campaign", "operator", "h3_8"),
}
#: Aggregated columns of evaluate's ``_sets`` (the rest are keys): min, max, else sums.
LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "operator": ("operator",),
    "area": ("operator", "area"),
    "h3_8": ("operator", "h3_8"),
}
#: The DuckDB tables a snapshot carries (and the only names a state file may give).
STATE_TABLES: Final = (*(f"_sets_{lv}" for lv in LEVELS), "_values_live", "_series_live")
#: The columns read from the collector (the engine fills the others with NULL).
READ_COLUMNS: Final = (
    "probe_id",
    "campaign",
    "started_at",
    "metric",
    "value",
    "ok",
    "error",
    "tool",  # criteria may read only some tools' rows (QCVN 126: file transfers)
    "under_load",
    "environment",
    "area",
    "operator",
    "technology",
    "latitude",
    "longitude",
    "clock_synced",  # a never-synchronised clock's rows are excluded (issue 23)
)
QUANTILES: Final = ("median", "percentile")
#: The map's hexagons are kept at this H3 resolution; coarser ones are their parents.
HEX_RESOLUTION: Final = 8
RECENT_POINTS: Final = 5000
BATCH_ROWS: Final = 250_000

_ADDITIVE_PREFIXES: Final = ("n_", "s_", "ss_", "k_", "ke_", "x_", "env_")


def _key(fields: dict[str, Any]) -> str:
    """A group's key as the engine writes it (DuckDB's to_json of a struct)."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


_parse_time: Final = epoch_s


@dataclass
class _ProbeTimes:
    """One probe's sampling tests (µs since the epoch, fine group index), in time order."""

    times: list[Any] = field(default_factory=list)  # numpy chunks
    groups: list[Any] = field(default_factory=list)
    last: int | None = None
    # kind ("area", "hex") -> its group -> [violations, smallest gap s or None]
    result: dict[str, dict[int, list[Any]]] = field(default_factory=lambda: {k: {} for k in KINDS})


@dataclass
class _Activity:
    rows: int = 0
    failures: int = 0
    last_started: str | None = None
    last_received: str | None = None
    lag_s: float | None = None
    per_minute: dict[str, int] = field(default_factory=dict)  # received minute -> rows


class RowSource(Protocol):
    """Where the rows come from: the collector's database (``CollectorDB``) or the
    aggregator's read-only reader of it."""

    def rows_after(
        self, cursor: Any, columns: Sequence[str], limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]: ...


class LiveEvaluation:
    """Running aggregates of one standard over a collector database."""

    def __init__(
        self,
        db: RowSource,
        std: Standard,
        *,
        batch_rows: int = BATCH_ROWS,
        plans: Mapping[Any, CampaignPlan] | None = None,
    ) -> None:
        self.db = db
        self.std = std
        #: campaign -> its plan (docs/plan.md): that campaign's verdicts are group-sequential;
        #: a campaign without one gets one-look verdicts, labelled provisional by the views.
        self.plans: dict[Any, CampaignPlan] = dict(plans or {})
        self.batch_rows = batch_rows
        self.cursor: Any = None
        self.version = 0
        self.rows_read = 0
        self.loaded = False  # caught up with the database once
        self.lock = threading.RLock()
        self._fine: list[str] = []  # fine gkeys (index = position)
        self._fine_index: dict[str, int] = {}
        self._fine_fields: list[dict[str, Any]] = []
        # per kind: fine group -> the kind's group, and the kind's groups' fields
        self._to_kind: dict[str, list[int]] = {k: [] for k in KINDS}
        self._kind_index: dict[str, dict[tuple[Any, ...], int]] = {k: {} for k in KINDS}
        self._kind_fields: dict[str, list[tuple[Any, ...]]] = {k: [] for k in KINDS}
        self._probe_times: dict[Any, _ProbeTimes] = {}
        self._quantile_metrics = sorted(
            {m for c in std.criteria if c.statistic in QUANTILES for m in c.metrics}
        )
        import duckdb

        from netmeasure.evaluate.dialect import DuckDBDialect
        from netmeasure.evaluate.plan import Plan

        # The running tables live in one in-memory database; each use has its own cursor
        # (DuckDB keeps temporary tables and views per cursor).
        self._duck = duckdb.connect(config={"memory_limit": "1GB"})
        self._duck.execute("SET enable_progress_bar = false")
        _functions(self._duck)
        self._batch_cur = _cursor(self._duck)
        self._view_cur = _cursor(self._duck)
        self._plan = Plan(std, FINE, DuckDBDialect())
        self._agg_rows = 0  # rows in the running _agg table, and after its last compaction
        self._agg_compacted = 0
        self.activity: dict[tuple[Any, Any], _Activity] = defaultdict(_Activity)
        # (campaign, operator, h3 cell at HEX_RESOLUTION) -> [ok tests, sum of values, failures]
        self.hexes: dict[tuple[Any, Any, str], list[float]] = defaultdict(lambda: [0, 0.0, 0])
        self.points: dict[Any, deque[list[Any]]] = defaultdict(lambda: deque(maxlen=RECENT_POINTS))
        self._views: dict[tuple[Any, str], tuple[int, dict[str, Any]]] = {}
        self._hex_views: dict[tuple[Any, int], tuple[int, list[dict[str, Any]]]] = {}
        self.last_update_s: float | None = None  # how long the last batch took
        self._boundaries: dict[str, list[list[float]]] = {}  # H3 cell -> its outline

    # -- reading -------------------------------------------------------------------------

    def poll(self, progress: Callable[[], None] | None = None) -> int:
        """Read and merge every row newer than the cursor; return how many were read.
        ``progress`` is called after each batch (the aggregator publishes its catch-up)."""
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
            if progress is not None:
                progress()
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

        from netmeasure.evaluate.plan import Plan
        from netmeasure.evaluate.sources import Source, relation_sql

        columns = list(zip(*rows, strict=True))
        schema = arrow_schema(READ_COLUMNS, time_as_text=True)
        arrays = {}
        for i, name in enumerate(READ_COLUMNS):
            values = columns[i + 1]
            if COLUMN_TYPES[name] == "bool":  # SQLite gives 0/1, PostgreSQL booleans
                arrays[name] = pa.array(values).cast(pa.bool_())
            else:
                arrays[name] = pa.array(values, type=schema.field(name).type)
        arrays["received_at"] = pa.array(columns[-1], type=pa.string())
        table = pa.table(arrays)
        del columns
        plan = self._plan
        d = plan.dialect
        metric = duckdb_literal(self.std.sampling.metric)
        sampling = f"FROM s WHERE _excluded IS NULL AND metric = {metric}"
        sampling += " AND NOT _ul"
        fine = ", ".join(plan.gcols)  # as named in the annotated view (h3_8: _h3_8)
        with tempfile.TemporaryDirectory(prefix="nm-dash-") as tmp, self.lock:
            path = Path(tmp) / "batch.parquet"
            pq.write_table(table, path, compression="none")
            con = self._batch_cur
            # evaluate's plan, steps 1-3, on this batch: the annotated view and _sets
            con.execute(
                "CREATE OR REPLACE TEMP VIEW raw_samples AS "
                + relation_sql(con, Source(path, "parquet"), 0)
            )
            con.execute(plan.duplicates_sql())
            dups = con.execute("SELECT count(*) FROM _dups").fetchall()[0]
            con.execute(d.create_temp_view("s", plan.annotated_sql(bool(dups and dups[0]))))
            first = not _has_table(con, "_values_live")
            for level, groups in LEVELS.items():
                # evaluate's scans into _sets for this level, per campaign: the
                # campaign is the first grouped column, so the set ids are the level's own
                for sql in Plan(self.std, ("campaign", *groups), d).sets_statements().values():
                    con.execute(sql)
                if first:
                    con.execute(f"CREATE TABLE _sets_{level} AS SELECT * FROM _sets LIMIT 0")
                con.execute(f"INSERT INTO _sets_{level} SELECT * FROM _sets")
                added = con.execute("SELECT count(*) FROM _sets").fetchall()[0]
                self._agg_rows += int(added[0]) if added else 0
            if first:
                con.execute(
                    f"CREATE TABLE _values_live AS SELECT {fine}, metric, tool, _ul, value"
                    " FROM s LIMIT 0"
                )
            # The time series: per campaign, operator, metric and hour of started_at (hours
            # since 1970, UTC), the completed tests, the sum of their values, the failures,
            # of the rows the standard keeps (sums add up across batches; the view divides).
            if not _has_table(con, "_series_live"):
                con.execute(
                    "CREATE TABLE _series_live (campaign VARCHAR, operator VARCHAR,"
                    " metric VARCHAR, hour BIGINT, n BIGINT, s DOUBLE, f BIGINT)"
                )
            # by the hour the test started, never the hour it was uploaded: a back-filled
            # upload lands in the hours it measured
            con.execute(
                "INSERT INTO _series_live SELECT campaign, operator, metric,"
                " epoch_us(started_at) // 3600000000 AS hour, count(*) FILTER (WHERE ok),"
                " coalesce(sum(value) FILTER (WHERE ok), 0), count(*) FILTER (WHERE NOT ok)"
                " FROM s WHERE _excluded IS NULL AND started_at IS NOT NULL GROUP BY ALL"
            )
            if self._quantile_metrics:
                metrics = ", ".join(duckdb_literal(m) for m in self._quantile_metrics)
                con.execute(
                    f"INSERT INTO _values_live SELECT {fine}, metric, tool, _ul, value FROM s"
                    f" WHERE _excluded IS NULL AND ok AND metric IN ({metrics})"
                )
            times = con.execute(
                f"SELECT {plan.gkey()} AS g, probe_id, epoch_us(started_at) AS t {sampling}"
                " ORDER BY probe_id, started_at"
            ).fetchnumpy()
            places = con.execute(f"""
                SELECT campaign, operator, _h3_8, count(*) FILTER (WHERE ok),
                       coalesce(sum(value) FILTER (WHERE ok), 0), count(*) FILTER (WHERE NOT ok)
                {sampling} AND _h3_8 IS NOT NULL GROUP BY ALL""").fetchall()
            latest = con.execute(f"""
                SELECT campaign, operator, latitude, longitude, CASE WHEN ok THEN value END,
                       probe_id, strftime(started_at, '%Y-%m-%dT%H:%M:%SZ')
                {sampling} AND latitude IS NOT NULL AND longitude IS NOT NULL
                ORDER BY started_at DESC LIMIT {RECENT_POINTS}""").fetchall()
            # the fleet: from the batch as stored (every row, excluded or not)
            raw = f"read_parquet({duckdb_literal(str(path))})"
            activity = con.execute(f"""
                SELECT campaign, probe_id, count(*), count(*) FILTER (WHERE NOT ok),
                       max(started_at), max(received_at)
                FROM {raw} GROUP BY ALL""").fetchall()
            # measured per minute: by started_at (UTC text with a 'Z', record/timetext.py),
            # not by upload: a back-filled day is not 1,500 tests in the hour it arrived
            minutes = con.execute(f"""
                SELECT campaign, probe_id, substr(started_at, 1, 16), count(*)
                FROM {raw} WHERE started_at IS NOT NULL GROUP BY ALL""").fetchall()
            con.execute("DROP VIEW s")
            con.execute("DROP VIEW raw_samples")
            if self._agg_rows > 2 * max(self._agg_compacted, 100_000):
                self._compact()
            self._merge_spacing(times)
            self._merge_activity(activity, minutes)
            self._merge_map(places, latest)
            self._views.clear()
            self._hex_views.clear()

    def _compact(self) -> None:
        """Rows of the running tables with the same key summed into one (this only bounds
        their size: a view sums them anyway)."""
        con = self._batch_cur
        total = 0
        for level in LEVELS:
            name = f"_sets_{level}"
            select, keys = _set_aggregates(con, name, self._plan, keep_campaign=True)
            con.execute(
                f"CREATE OR REPLACE TABLE {name} AS SELECT {select} FROM {name} GROUP BY {keys}"
            )
            n = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0]
            total += int(n[0]) if n else 0
        if _has_table(con, "_series_live"):
            con.execute(
                "CREATE OR REPLACE TABLE _series_live AS SELECT campaign, operator, metric,"
                " hour, sum(n)::BIGINT AS n, sum(s) AS s, sum(f)::BIGINT AS f"
                " FROM _series_live GROUP BY ALL"
            )
        self._agg_rows = self._agg_compacted = total

    def _fine_id(self, gkey: str) -> int:
        i = self._fine_index.get(gkey)
        if i is None:
            i = len(self._fine)
            self._fine.append(gkey)
            self._fine_index[gkey] = i
            fields = json.loads(gkey)
            self._fine_fields.append(fields)
            for kind, cols in KINDS.items():
                key = tuple(fields[c] for c in cols)
                k = self._kind_index[kind].setdefault(key, len(self._kind_fields[kind]))
                if k == len(self._kind_fields[kind]):
                    self._kind_fields[kind].append(key)
                self._to_kind[kind].append(k)
        return i

    def _merge_spacing(self, times: dict[str, Any]) -> None:
        """Gaps between consecutive sampling tests of each probe (rows sorted by probe and
        time), attributed to the later test's group, as the engine's window computes them."""
        need = self.std.sampling.min_spacing_s
        if need is None or not len(times["probe_id"]):
            return
        gkeys = times["g"]
        probes = times["probe_id"]
        stamps = np.asarray(times["t"], np.int64)
        # one dictionary look-up per distinct group, not per test
        distinct, where = np.unique(np.asarray(gkeys, dtype=object), return_inverse=True)
        ids = np.fromiter((self._fine_id(g) for g in distinct), dtype=np.int64, count=len(distinct))
        fine = ids[where.reshape(-1)]
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
                self._spacing_kinds(pt, g, gaps, need)
                pt.times.append(t)
                pt.groups.append(g)
            else:  # out of order: recompute this probe's gaps from all its tests
                all_t = np.concatenate([*pt.times, t])
                all_g = np.concatenate([*pt.groups, g])
                order = np.argsort(all_t, kind="stable")
                all_t, all_g = all_t[order], all_g[order]
                pt.times, pt.groups = [all_t], [all_g]
                pt.result = {k: {} for k in KINDS}
                gaps = np.concatenate([[np.nan], np.diff(all_t) / 1e6])
                self._spacing_kinds(pt, all_g, gaps, need)
            pt.last = int(max(pt.last or t[-1], t[-1]))

    def _spacing_kinds(self, pt: _ProbeTimes, fine: Any, gaps: Any, need: float) -> None:
        for kind in KINDS:
            groups = np.asarray(self._to_kind[kind], dtype=np.int64)[fine]
            _spacing_into(pt.result[kind], groups, gaps, need)

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
        for campaign, operator, cell, n_ok, total, failures in places:
            slot = self.hexes[(campaign, operator, cell)]
            slot[0] += n_ok
            slot[1] += total
            slot[2] += failures
        for campaign, operator, lat, lon, value, probe, started in reversed(latest):
            self.points[campaign].append(
                [round(lat, 6), round(lon, 6), value, operator, probe, started]
            )

    # -- a snapshot, so that a restart resumes -------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the running aggregates are, with the cursor they stand at (one
        consistent point: taken under the lock, between batches)."""
        with self.lock:
            if _has_table(self._batch_cur, "_sets_operator"):
                self._compact()  # one row per key: the smallest file
            tables = {}
            for name in STATE_TABLES:
                if _has_table(self._batch_cur, name):
                    schema = self._batch_cur.execute(f"DESCRIBE {name}").fetchall()
                    arrow = self._batch_cur.sql(f"SELECT * FROM {name}").to_arrow_table()
                    tables[name] = ([(r[0], r[1]) for r in schema], _ipc_bytes(arrow))
            probes = {
                p: (
                    np.concatenate(pt.times) if pt.times else np.zeros(0, np.int64),
                    np.concatenate(pt.groups) if pt.groups else np.zeros(0, np.int64),
                    pt.last,
                    pt.result,
                )
                for p, pt in self._probe_times.items()
            }
            return {
                "cursor": self.cursor,
                "rows_read": self.rows_read,
                "version": self.version,
                "fine": list(self._fine),
                "probes": probes,
                "agg_rows": (self._agg_rows, self._agg_compacted),
                "activity": dict(self.activity),
                "hexes": dict(self.hexes),
                "points": {c: list(d) for c, d in self.points.items()},
                "tables": tables,
            }

    def restore(self, snap: Mapping[str, Any]) -> None:
        """Take up a snapshot (on a fresh instance): the next poll reads after its cursor.
        All or nothing: a snapshot that fails half-way leaves this instance fresh. The
        snapshot was checked against statefile.check_record: the table names used are this
        module's own (STATE_TABLES), column names identifiers, types from a closed list."""
        with self.lock:
            if self._fine or self.rows_read:
                raise ValueError("restore() needs a fresh LiveEvaluation")
            arrows = {}
            for name in STATE_TABLES:  # our names, never the file's text
                if name not in snap["tables"]:
                    continue
                schema, data = snap["tables"][name]
                arrow = _ipc_table(data)
                arrow.validate(full=True)
                if arrow.column_names != [c for c, _ in schema]:
                    raise ValueError(f"the table {name}: its columns differ from its schema")
                arrows[name] = (schema, arrow)
            con = self._batch_cur
            con.execute("BEGIN TRANSACTION")
            try:
                for name, (schema, arrow) in arrows.items():
                    cols = ", ".join(f"{quote(c)} {t}" for c, t in schema)
                    con.execute(f"CREATE TABLE {name} ({cols})")
                    con.register("_restore", arrow)
                    try:  # the declared types again (Arrow has no HUGEINT: sums come back exact)
                        con.execute(f"INSERT INTO {name} SELECT * FROM _restore")
                    finally:
                        con.unregister("_restore")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            for gkey in snap["fine"]:
                self._fine_id(gkey)
            for p, (times, groups, last, result) in snap["probes"].items():
                self._probe_times[p] = _ProbeTimes([times], [groups], last, result)
            self._agg_rows, self._agg_compacted = snap["agg_rows"]
            self.activity.update(snap["activity"])
            for key, slot in snap["hexes"].items():
                self.hexes[key] = slot
            for c, pts in snap["points"].items():
                self.points[c].extend(pts)
            self.cursor = snap["cursor"]
            self.rows_read = int(snap["rows_read"])
            self.version = int(snap["version"]) + 1
            self.loaded = False

    # -- views -----------------------------------------------------------------------------

    def campaigns(self) -> list[dict[str, Any]]:
        with self.lock:
            if not _has_table(self._view_cur, "_sets_operator"):
                return []
            # every row once: the (group, day, hour) cells of the operator level
            rows = self._view_cur.execute(
                "SELECT campaign, sum(used"
                + "".join(f" + x_{r}" for r in EXCLUSION_REASONS)
                + ") FROM _sets_operator WHERE _set = "
                + str(self._plan_for("operator").set_id("cell"))
                + " GROUP BY campaign"
            ).fetchall()
        return [
            {"campaign": c, "samples": int(n)}
            for c, n in sorted(rows, key=lambda r: (-int(r[1]), str(r[0])))
        ]

    def _plan_for(self, level: str) -> Any:
        from netmeasure.evaluate.plan import Plan

        return Plan(self.std, ("campaign", *LEVELS[level]), self._plan.dialect)

    def evaluation(self, campaign: Any, level: str) -> dict[str, Any]:
        """evaluate's JSON (docs/contracts.md §4) for one campaign, grouped by ``level``."""
        from netmeasure.evaluate.pipeline import run

        with self.lock:
            cached = self._views.get((campaign, level))
            if cached and cached[0] == self.version:
                return cached[1]
            if not _has_table(self._view_cur, "_sets_operator"):
                return {"verdict": None, "groups": []}
            kind = "hex" if level.startswith("h3_") else "area"
            fields = self._kind_fields[kind]
            spacing = [
                (*fields[gi], violations, gap)
                for pt in self._probe_times.values()
                for gi, (violations, gap) in pt.result[kind].items()
                if fields[gi][0] == campaign
            ]
            engine = LiveEngine(self._view_cur, self.std, LEVELS[level], campaign, spacing)
            result = run(
                engine,
                self.std,
                LEVELS[level],
                __version__,
                campaign_plan=self.plans.get(campaign),
            ).to_json()
            self._views[(campaign, level)] = (self.version, result)
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
                "boundary": self._boundary(cell),
            }
            for (op, cell), (n, s, f) in sorted(
                acc.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])
            )
        ]
        with self.lock:
            self._hex_views[(campaign, resolution)] = (version, out)
        return out

    def _boundary(self, cell: str) -> list[list[float]]:
        import h3

        out = self._boundaries.get(cell)
        if out is None:
            out = [[round(a, 6), round(b, 6)] for a, b in h3.cell_to_boundary(cell)]
            self._boundaries[cell] = out
        return out

    def series(self, campaign: Any) -> list[tuple[Any, ...]]:
        """(operator, metric, hour since 1970, completed tests, sum of values, failures)
        of one campaign, by operator, metric and hour."""
        with self.lock:
            if not _has_table(self._view_cur, "_series_live"):
                return []
            where = "campaign IS NULL" if campaign is None else "campaign = ?"
            params = [] if campaign is None else [campaign]
            rows: list[tuple[Any, ...]] = self._view_cur.execute(
                "SELECT operator, metric, hour, sum(n)::BIGINT, sum(s), sum(f)::BIGINT"
                f" FROM _series_live WHERE {where} GROUP BY ALL ORDER BY ALL",
                params,
            ).fetchall()
            return rows

    def recent_points(self, campaign: Any) -> list[list[Any]]:
        with self.lock:
            return list(self.points.get(campaign, ()))


class LiveEngine:
    """An engine (netmeasure/evaluate/engine.py) over the running tables, for evaluate's
    pipeline: its ``_agg`` is the running first aggregation of one campaign, the hour counts
    and the gaps between tests come from the running totals, the values for order
    statistics from the running values. The plan's other queries run unchanged on DuckDB;
    one that needs the samples themselves fails loudly (there is no ``raw_samples``).

    Hexagons coarser than resolution 8 are the H3 parents of the resolution-8 cells (the
    map's choice; ``evaluate --group-by h3_N`` places each sample in its own cell)."""

    def __init__(
        self,
        con: Any,
        std: Standard,
        group_by: tuple[str, ...],
        campaign: Any,
        spacing: list[tuple[Any, ...]],
    ) -> None:
        from netmeasure.evaluate.dialect import Dialect, DuckDBDialect
        from netmeasure.evaluate.plan import Plan

        self.con = con
        self.dialect: Dialect = DuckDBDialect()
        self.sources: tuple[Any, ...] = ()
        self.plan = Plan(std, group_by, self.dialect)
        where = "campaign IS NULL" if campaign is None else f"campaign = {duckdb_literal(campaign)}"
        kind = "hex" if any(g.startswith("h3_") for g in group_by) else "area"
        level = "h3_8" if kind == "hex" else ("area" if "area" in group_by else "operator")
        self._spacing = spacing
        self.insert_rows(
            "_sp",
            [
                *((f"_{c}" if c.startswith("h3_") else c, "VARCHAR") for c in KINDS[kind]),
                ("v", "BIGINT"),
                ("gap", "DOUBLE"),
            ],
            spacing,
        )
        select, keys = _set_aggregates(con, f"_sets_{level}", self.plan, keep_campaign=False)
        self._sets = f"SELECT {select} FROM _sets_{level} WHERE {where} GROUP BY {keys}"
        self._count = f"SELECT count(*) FROM _sets_{level} WHERE {where}"
        self._sets_statements = {sql: r for r, sql in self.plan.sets_statements().items()}
        for view, table in (("_values_v", "_values_live"), ("_sp_v", "_sp")):
            con.execute(self.dialect.create_temp_view(view, f"SELECT * FROM {table} WHERE {where}"))

    def execute(self, sql: str) -> None:
        plan, d = self.plan, self.dialect
        if sql == plan.duplicates_sql():  # the collector stores each sample_id once
            sql = d.create_temp_table("_dups", "SELECT CAST(NULL AS VARCHAR) AS sample_id LIMIT 0")
        elif sql == d.create_temp_view("s", plan.annotated_sql(False)):
            # only the order statistics read rows: the running values of used, ok samples
            sql = d.create_temp_view(
                "s", "SELECT *, CAST(NULL AS VARCHAR) AS _excluded, TRUE AS ok FROM _values_v"
            )
        elif sql in self._sets_statements:
            # the groupings' tables: the running _sets' rows of each (made on the first)
            role = self._sets_statements[sql]
            if role == "cluster":
                self.con.execute(d.create_temp_table("_sets", self._sets))
            sql = (
                "SELECT 1"
                if role == "_sets"
                else d.create_temp_view(plan.set_table(role), plan.role_rows_sql(role))
            )
        self.con.execute(sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if sql == self.plan.span_sql():  # the rows; no times here: the annotated view's time
            # zone conversion is the running tables' (plan.offsets)
            sql = f"SELECT ({self._count}), NULL, NULL"
        return list(self.con.execute(sql).fetchall())

    def spacing(self, by_window: str, by_sort: SortedTimes) -> list[tuple[Any, ...]]:
        # the running gaps (no sampling test's time is kept here)
        plan = self.plan
        group = f" GROUP BY {', '.join(plan.gcols)}" if plan.gcols else ""
        sql = f"SELECT {plan.gkey()}, sum(v), min(gap) FROM _sp_v{group}"
        return list(self.con.execute(sql).fetchall())

    def insert_rows(self, table: str, columns: Any, rows: Any) -> None:
        import pyarrow as pa

        types = {
            "VARCHAR": pa.string(),
            "BIGINT": pa.int64(),
            "INTEGER": pa.int32(),
            "DOUBLE": pa.float64(),
        }
        arrays = {
            n: pa.array([r[i] for r in rows], type=types[t]) for i, (n, t) in enumerate(columns)
        }
        self.con.register("_insert_rows", pa.table(arrays))
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {quote(table)} AS SELECT * FROM _insert_rows"
            )
        finally:
            self.con.unregister("_insert_rows")

    def repeated_hashes(self, hashes_sql: str, rows: int) -> str:
        from netmeasure.evaluate.engine import repeated_by_aggregate

        # the default of plan.duplicates_sql, which execute replaces
        return repeated_by_aggregate(hashes_sql)

    def values_at_ranks(
        self, values_sql: str, wanted: Mapping[str, tuple[int, Iterable[int]]]
    ) -> dict[tuple[str, int], float]:
        from netmeasure.evaluate.engine import sorted_ranks

        return sorted_ranks(self, values_sql, wanted)

    def close(self) -> None:
        pass


def _set_aggregates(con: Any, table: str, plan: Plan, *, keep_campaign: bool) -> tuple[str, str]:
    """The select list combining a running ``_sets`` table's rows by key (each of plan's
    aggregates by its rollup), and its keys."""
    rollups = {a.name: a.rollup for a in plan.set_aggregates()}
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    aggregated = [c for c in cols if c in rollups]
    keys = [c for c in cols if c not in rollups and (keep_campaign or c != "campaign")]
    out = [quote(k) for k in keys]
    out += [f"{rollups[c]}({quote(c)}) AS {quote(c)}" for c in aggregated]
    return ", ".join(out), ", ".join(quote(k) for k in keys)


def _ipc_bytes(table: Any) -> bytes:
    """A table as Arrow IPC, zstd-compressed (the keys repeat: a tenth of the size)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _ipc_table(data: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def _cursor(con: Any) -> Any:
    cur = con.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    return cur


def _functions(con: Any) -> None:
    """The H3 functions, once per database (its cursors share them)."""
    from netmeasure.evaluate.engine import register_h3

    register_h3(con)

    def parents(cells: Any, res: Any) -> Any:
        import h3
        import pyarrow as pa

        return pa.array(
            [
                None if c is None else h3.cell_to_parent(c, r)
                for c, r in zip(cells.to_pylist(), res.to_pylist(), strict=True)
            ],
            type=pa.string(),
        )

    import duckdb

    con.create_function(
        "nm_h3_parent",
        parents,
        [duckdb.sqltype("VARCHAR"), duckdb.sqltype("INTEGER")],
        duckdb.sqltype("VARCHAR"),
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


def _has_table(con: Any, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]
    ).fetchall()[0]
    return bool(rows and rows[0])


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
    """Count gaps below ``need`` and the smallest gap per group (a NaN gap: none), with numpy
    (a catch-up feeds millions of tests: no Python per test)."""
    if not len(groups):
        return
    distinct, where = np.unique(groups, return_inverse=True)
    where = where.reshape(-1)
    have = ~np.isnan(gaps)
    short = np.zeros(len(distinct), dtype=np.int64)
    np.add.at(short, where[have], (gaps[have] < need).astype(np.int64))
    smallest = np.full(len(distinct), np.inf)
    np.minimum.at(smallest, where[have], gaps[have])
    for gi, n, gap in zip(distinct.tolist(), short.tolist(), smallest.tolist(), strict=True):
        slot = result.setdefault(gi, [0, None])
        slot[0] += n
        if gap != np.inf and (slot[1] is None or gap < slot[1]):
            slot[1] = gap


def _lag(received: str, started: str) -> float | None:
    with contextlib.suppress(ValueError):
        return round(_parse_time(received) - _parse_time(started), 3)
    return None
