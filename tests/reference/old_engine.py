"""Reference (tests only): evaluate as it was before issue 9, kept to check that the
sums-based pipeline gives the same results.

The engine: DuckDB reduces any number of samples to small per-cell sufficient statistics.

A cell is (group, probe, cluster, day, hour). For each criterion a cell holds counts, sums,
sums of squares and counts meeting a bar; exclusions are counted by reason. Everything
statistical is then computed from these small tables (verdict.py, stats.py), so the same
queries could run on a distributed engine unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

from netmeasure.errors import InputError
from netmeasure.evaluate.sources import Source, discover, relation_sql
from netmeasure.samples import ALL_COLUMNS, ENVIRONMENTS, METRIC_UNITS
from netmeasure.standard import DERIVED_COLUMNS, Criterion, Standard

#: Values above these are not measurements but errors (counted as ``invalid_value``).
ABSURD: Final[dict[str, float]] = {
    "bit/s": 1e12,  # 1 Tbit/s
    "ms": 600_000.0,  # 10 minutes
    "ratio": 1.0,
}

EXCLUSION_REASONS: Final = ("technology", "invalid_value", "interrupted", "duplicate")

#: How many rows the details (charts, appendix) carry at most.
DETAIL_POINTS: Final = 101
DETAIL_LOCATIONS: Final = 5000
DETAIL_TESTS: Final = 200


#: ISO-8601 UTC, as the sample record writes times (the session's time zone is UTC).
_ISO: Final = "'%Y-%m-%dT%H:%M:%S.%fZ'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text_column(name: str) -> str:
    """A column of the annotated view, as text where it is derived (day)."""
    return {"day": "strftime(_day, '%Y-%m-%d')", "hour": "_hour"}.get(name, _q(name))


def _group_columns(group_by: list[str]) -> list[str]:
    return [{"day": "_day", "hour": "_hour"}.get(g, _q(g)) for g in group_by]


def _gkey_sql(group_by: list[str]) -> str:
    """The group's key as JSON ({"operator": "Viettel"}), over the view's columns."""
    if not group_by:
        return "'{}'"
    return (
        "to_json(struct_pack(" + ", ".join(f"{_q(g)} := {_text_column(g)}" for g in group_by) + "))"
    )


@dataclass(frozen=True)
class Reduced:
    """What the engine hands to the verdicts: small tables as lists of dicts."""

    cells: list[dict[str, Any]]  # (group, probe, cluster, day) with the criteria's sums
    hours: dict[tuple[str, int], int]  # (group, local hour) -> sampling-metric tests
    spacing: dict[str, tuple[int, float | None]]  # gkey -> (violations, smallest gap s)
    ranked: dict[str, dict[str, dict[int, float]]]  # criterion -> gkey -> rank -> value
    group_columns: list[str]
    sources: list[Source]
    details: dict[str, Any] | None


class Engine:
    def __init__(
        self,
        paths: list[str],
        *,
        memory_limit: str = "1GB",
        threads: int | None = None,
        temp_directory: str | None = None,
    ) -> None:
        try:
            import duckdb
        except ImportError as exc:
            raise InputError("evaluate needs duckdb: pip install 'netmeasure[analysis]'") from exc
        self.sources = discover(paths)
        if not self.sources:
            raise InputError("no sources given")
        self.con = duckdb.connect(config={"memory_limit": memory_limit})
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if temp_directory:
            self.con.execute(f"SET temp_directory = {_lit(temp_directory)}")
        parts = [relation_sql(self.con, src, i) for i, src in enumerate(self.sources)]
        self.con.execute("CREATE TEMP VIEW raw_samples AS " + " UNION ALL ".join(parts))

    def close(self) -> None:
        self.con.close()

    # -- the typed, annotated view ----------------------------------------------------------

    def _annotated_sql(self, std: Standard, group_by: list[str]) -> str:
        tz = _lit(std.meta.timezone)
        local = f"timezone({tz}, started_at)"
        # Per row: a DATE (cheap); formatted as text only on the small aggregated tables.
        derived = {"day": "strftime(_day, '%Y-%m-%d')", "hour": "_hour"}

        def col(name: str) -> str:
            return derived[name] if name in derived else _q(name)

        gkey = _gkey_sql(group_by)
        cluster = (
            (
                "concat_ws('|', "
                + ", ".join(f"coalesce(CAST({col(c)} AS VARCHAR), '∅')" for c in std.meta.cluster)
                + ")"
            )
            if std.meta.cluster
            else "''"
        )
        techs = std.meta.technology
        tech_ok = "technology IN (" + ", ".join(_lit(t) for t in techs) + ")" if techs else "TRUE"
        absurd = " ".join(
            f"WHEN metric = {_lit(m)} THEN {ABSURD[u]!r}"
            for m, u in METRIC_UNITS.items()
            if u in ABSURD  # the metrics of its time (later ones: not in its data)
        )
        # Samples exported twice (a store and its export, given together) must not count
        # twice. Within one argument (a file, a folder of one export) ids are unique already,
        # and the check (a sort of every sample id) is only paid when it can matter.
        dedupe = len({src.argument for src in self.sources}) > 1
        dup = (
            (
                "WHEN row_number() OVER (PARTITION BY sample_id ORDER BY _source) > 1"
                " AND sample_id IS NOT NULL THEN 'duplicate' "
            )
            if dedupe
            else ""
        )
        return f"""
            SELECT *, {gkey} AS _gkey, {cluster} AS _cluster FROM (
            SELECT *,
              CAST({local} AS DATE) AS _day,
              hour({local}) AS _hour,
              coalesce(under_load, FALSE) AS _ul,
              CASE
                {dup}
                WHEN started_at IS NULL OR metric IS NULL OR ok IS NULL THEN 'invalid_value'
                WHEN ok AND (value IS NULL OR isnan(value) OR isinf(value) OR value < 0
                             OR value > (CASE {absurd} ELSE 1e300 END)) THEN 'invalid_value'
                WHEN NOT ok AND value IS NOT NULL THEN 'invalid_value'
                WHEN NOT ({tech_ok}) OR technology IS NULL AND {bool(techs)} THEN 'technology'
                WHEN NOT ok AND error = 'interrupted' THEN 'interrupted'
                ELSE NULL
              END AS _excluded
            FROM raw_samples)"""

    # -- reduction --------------------------------------------------------------------------

    def reduce(self, std: Standard, group_by: list[str], *, details: bool = False) -> Reduced:
        allowed = [*ALL_COLUMNS, *DERIVED_COLUMNS]
        for g in group_by:
            if g not in allowed:
                from netmeasure.tomlfile import did_you_mean

                raise InputError(
                    f"--group-by: unknown column {g!r}"
                    + (f" ({did_you_mean(g, allowed)})" if did_you_mean(g, allowed) else "")
                )
        import duckdb

        self._group_by = list(group_by)
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMP VIEW s AS " + self._annotated_sql(std, group_by)
            )
            total = self.con.execute("SELECT count(*) FROM raw_samples").fetchone()
            if not total or total[0] == 0:
                names = ", ".join(s.name for s in self.sources)
                raise InputError(f"{names}: no samples to evaluate (the dataset is empty)")
            cells = self._cells(std, group_by)
            spacing = self._spacing(std)
            ranked = self._ranked(std, cells)
            det = self._details(std) if details else None
        except duckdb.Error as exc:
            names = ", ".join(s.name for s in self.sources)
            raise InputError(f"{names}: cannot evaluate: {str(exc).splitlines()[0]}") from exc
        return Reduced(cells, self._hours, spacing, ranked, group_by, self.sources, det)

    @staticmethod
    def _bars(std: Standard) -> list[tuple[str, float]]:
        """(comparison, value) pairs whose counts the first aggregation keeps."""
        bars: list[tuple[str, float]] = []
        for c in std.criteria:
            if c.statistic == "share":
                bar = (">=", c.at_least) if c.at_least is not None else ("<=", c.at_most)
                bars.append((bar[0], float(bar[1] or 0.0)))
            elif c.statistic in ("median", "percentile"):
                bars += [("<", c.threshold), ("<=", c.threshold)]
        return list(dict.fromkeys(bars))

    def _criterion_aggregates(
        self, j: int, c: Criterion, bars: list[tuple[str, float]]
    ) -> list[str]:
        metric = "metric IN (" + ", ".join(_lit(m) for m in c.metrics) + ")"
        load = "" if c.statistic == "failure_ratio" else f" AND _ul = {str(c.under_load).upper()}"
        base = f"_excluded IS NULL AND {metric}{load}"
        ok = f"{base} AND ok"

        def bar(op: str, value: float | None) -> str:
            return f"b{bars.index((op, float(value or 0.0)))}"

        if c.statistic == "mean":
            return [
                f"sum(n) FILTER (WHERE {ok}) AS n_{j}",
                f"sum(s) FILTER (WHERE {ok}) AS s_{j}",
                f"sum(ss) FILTER (WHERE {ok}) AS ss_{j}",
            ]
        if c.statistic == "share":
            attempts = ok if c.failed == "exclude" else base
            col = bar(">=", c.at_least) if c.at_least is not None else bar("<=", c.at_most)
            return [
                f"sum(n) FILTER (WHERE {attempts}) AS n_{j}",
                f"sum({col}) FILTER (WHERE {ok}) AS k_{j}",
            ]
        if c.statistic == "failure_ratio":
            return [
                f"sum(n) FILTER (WHERE {base}) AS n_{j}",
                f"sum(n) FILTER (WHERE {base} AND NOT ok) AS k_{j}",
            ]
        # median, percentile: below-threshold counts for Woodruff and samples_needed
        return [
            f"sum(n) FILTER (WHERE {ok}) AS n_{j}",
            f"sum({bar('<', c.threshold)}) FILTER (WHERE {ok}) AS k_{j}",
            f"sum({bar('<=', c.threshold)}) FILTER (WHERE {ok}) AS ke_{j}",
        ]

    def _cells(self, std: Standard, group_by: list[str]) -> list[dict[str, Any]]:
        """Two steps: one scan of the samples into a table keyed by (group and cluster
        columns, probe, day, hour, metric, outcome, exclusion) with counts and sums, then the
        criteria's sums over that small table."""
        derived = {"day": "_day", "hour": "_hour"}
        # No hour here unless grouped or clustered by it: 24 times the rows, and a hash table
        # that spills to disk at 100 M samples. Hours are counted apart, below.
        keys = list(
            dict.fromkeys(
                derived.get(c, _q(c)) for c in [*group_by, *std.meta.cluster, "probe_id", "day"]
            )
        )
        bars = self._bars(std)
        bar_aggs = "".join(
            f", count(*) FILTER (WHERE value {op} {v!r}) AS b{i}" for i, (op, v) in enumerate(bars)
        )
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _agg AS
            SELECT {", ".join(keys)}, metric, ok, _ul, environment, _excluded,
                   count(*) AS n, sum(value) AS s, sum(value * value) AS ss,
                   min(started_at) AS tmin, max(started_at) AS tmax{bar_aggs}
            FROM s GROUP BY ALL""")
        col = _text_column
        gkey = _gkey_sql(group_by)
        cluster = (
            (
                "concat_ws('|', "
                + ", ".join(f"coalesce(CAST({col(c)} AS VARCHAR), '∅')" for c in std.meta.cluster)
                + ")"
            )
            if std.meta.cluster
            else "''"
        )
        aggs: list[str] = []
        for j, c in enumerate(std.criteria):
            aggs += self._criterion_aggregates(j, c, bars)
        for reason in EXCLUSION_REASONS:
            aggs.append(f"sum(n) FILTER (WHERE _excluded = {_lit(reason)}) AS x_{reason}")
        m = _lit(std.sampling.metric)
        sampling = f"_excluded IS NULL AND metric = {m} AND NOT _ul"
        for env in ENVIRONMENTS:
            aggs.append(
                f"sum(n) FILTER (WHERE {sampling} AND environment = {_lit(env)}) AS env_{env}"
            )
        aggs += [
            f"sum(n) FILTER (WHERE {sampling}) AS n_sampling",
            "sum(n) FILTER (WHERE _excluded IS NULL) AS n_used",
            "sum(n) AS n_rows",
            f"strftime(min(tmin) FILTER (WHERE _excluded IS NULL), {_ISO}) AS t_min",
            f"strftime(max(tmax) FILTER (WHERE _excluded IS NULL), {_ISO}) AS t_max",
            "any_value(environment) FILTER (WHERE _excluded IS NULL) AS environment",
        ]
        sql = (
            f"SELECT {gkey} AS _gkey, probe_id, {cluster} AS _cluster,"
            f" strftime(_day, '%Y-%m-%d') AS _day, {', '.join(aggs)}"
            " FROM _agg GROUP BY ALL ORDER BY ALL"
        )
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        zero = {k for k in names if k.startswith(("n_", "s_", "ss_", "k_", "ke_", "x_", "env_"))}
        cells = []
        for row in cur.fetchall():
            cell = dict(zip(names, row, strict=True))
            for k in zero:
                if cell[k] is None:
                    cell[k] = 0
            cells.append(cell)
        gcols = ", ".join(derived.get(g, _q(g)) for g in group_by)
        self._hours = {
            (g, int(h)): int(n)
            for g, h, n in self.con.execute(f"""
                SELECT {gkey}, _hour, n FROM (
                  SELECT {gcols + ", " if gcols else ""}_hour, count(*) AS n FROM s
                  WHERE {sampling} GROUP BY ALL)""").fetchall()
        }
        return cells

    def _spacing(self, std: Standard) -> dict[str, tuple[int, float | None]]:
        need = std.sampling.min_spacing_s
        if need is None:
            return {}
        m = _lit(std.sampling.metric)
        gcols = "".join(f"{c}, " for c in _group_columns(self._group_by))
        # One row of the sampling metric is one test (a throughput run writes one download).
        # The group's JSON key is built after the window, on the small result.
        sql = f"""
            WITH t AS (
              SELECT {gcols}(epoch_us(started_at) - lag(epoch_us(started_at)) OVER (
                       PARTITION BY probe_id ORDER BY started_at)) / 1e6 AS gap
              FROM s WHERE _excluded IS NULL AND metric = {m} AND NOT _ul)
            SELECT {_gkey_sql(self._group_by)}, count(*) FILTER (WHERE gap < {need!r}), min(gap)
            FROM t GROUP BY ALL"""
        return {k: (int(v), g) for k, v, g in self.con.execute(sql).fetchall()}

    def _ranked(
        self, std: Standard, cells: list[dict[str, Any]]
    ) -> dict[str, dict[str, dict[int, float]]]:
        from old_verdict import needed_ranks

        out: dict[str, dict[str, dict[int, float]]] = {}
        for j, c in enumerate(std.criteria):
            if c.statistic not in ("median", "percentile"):
                continue
            want = needed_ranks(std, j, c, cells)  # gkey -> ranks
            rows = [(g, r) for g, ranks in want.items() for r in sorted(ranks)]
            out[c.id] = {g: {} for g in want}
            if not rows:
                continue
            self.con.execute("CREATE OR REPLACE TEMP TABLE _ranks (g VARCHAR, r BIGINT)")
            self.con.executemany("INSERT INTO _ranks VALUES (?, ?)", rows)
            metric = "metric IN (" + ", ".join(_lit(m) for m in c.metrics) + ")"
            sql = f"""
                WITH v AS (
                  SELECT _gkey AS g, value, row_number() OVER (PARTITION BY _gkey
                         ORDER BY value) AS r
                  FROM s WHERE _excluded IS NULL AND ok AND {metric}
                    AND _ul = {str(c.under_load).upper()})
                SELECT v.g, v.r, v.value FROM v JOIN _ranks USING (g, r)"""
            for g, r, value in self.con.execute(sql).fetchall():
                out[c.id][g][int(r)] = float(value)
        return out

    def _details(self, std: Standard) -> dict[str, Any]:
        """Data for the report's charts and appendix (never statistics: those are computed
        in verdict.py). Kept small: quantile points, counts, a bounded set of rows."""
        qs = ", ".join(repr(i / (DETAIL_POINTS - 1)) for i in range(DETAIL_POINTS))
        out: dict[str, Any] = {}
        rows = self.con.execute(f"""
            SELECT _gkey, metric, coalesce(under_load, FALSE), count(*),
                   quantile_cont(value, [{qs}])
            FROM s WHERE _excluded IS NULL AND ok GROUP BY ALL ORDER BY ALL""").fetchall()
        out["quantiles"] = [
            {
                "key": json.loads(g),
                "metric": m,
                "under_load": bool(u),
                "n": int(n),
                "values": [float(v) for v in vals],
            }
            for g, m, u, n, vals in rows
        ]
        tech = self.con.execute("""
            SELECT _gkey, coalesce(technology, 'unknown'), count(DISTINCT test_id) FROM s
            GROUP BY ALL ORDER BY ALL""").fetchall()
        out["technology"] = [
            {"key": json.loads(g), "technology": t, "tests": int(n)} for g, t, n in tech
        ]
        m = _lit(std.sampling.metric)
        loc = self.con.execute(f"""
            SELECT latitude, longitude, ok, value FROM s
            WHERE _excluded IS NULL AND metric = {m} AND latitude IS NOT NULL
              AND longitude IS NOT NULL
            USING SAMPLE reservoir({DETAIL_LOCATIONS} ROWS) REPEATABLE (42)""").fetchall()
        out["locations"] = sorted(
            [[float(a), float(b), bool(ok), v] for a, b, ok, v in loc],
            key=lambda r: (r[0], r[1], r[3] if r[3] is not None else -1),
        )
        tests = self.con.execute(f"""
            SELECT strftime(min(started_at), {_ISO}), probe_id, test_id, any_value(tool),
                   any_value(target),
                   list(metric ORDER BY metric), list(value ORDER BY metric),
                   bool_and(ok), any_value(error), any_value(environment), any_value(area)
            FROM s WHERE _excluded IS NULL AND NOT coalesce(under_load, FALSE)
            GROUP BY probe_id, test_id ORDER BY 1, 3 LIMIT {DETAIL_TESTS}""").fetchall()
        out["tests"] = [
            {
                "started_at": t,
                "probe_id": p,
                "test_id": tid,
                "tool": tool,
                "target": target,
                "values": {
                    mm: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                    for mm, v in zip(ms, vs, strict=True)
                },
                "ok": bool(ok),
                "error": err,
                "environment": env,
                "area": area,
            }
            for t, p, tid, tool, target, ms, vs, ok, err, env, area in tests
        ]
        total = self.con.execute("""SELECT count(DISTINCT (probe_id, test_id)) FROM s
            WHERE _excluded IS NULL AND NOT coalesce(under_load, FALSE)""").fetchone()
        out["tests_total"] = int(total[0]) if total else 0
        versions = self.con.execute("""SELECT tool, coalesce(tool_version, '?'), count(*) FROM s
            GROUP BY ALL ORDER BY ALL""").fetchall()
        out["tools"] = [{"tool": t, "version": v, "samples": int(n)} for t, v, n in versions]
        for col, key in (("area", "areas"), ("operator", "operators")):
            values = self.con.execute(f"""SELECT DISTINCT {col} FROM s WHERE _excluded IS NULL
                AND {col} IS NOT NULL ORDER BY 1 LIMIT 50""").fetchall()
            out[key] = [str(v[0]) for v in values]
        return out
