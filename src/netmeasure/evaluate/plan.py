"""The evaluation's queries: everything that grows with samples, devices or clusters runs
here, in the engine; Python receives O(groups x criteria) numbers (sums.py).

Steps (each a query over the previous step's small table):

1. ``_dups``: sample ids seen more than once (the hashes of the ids seen more than once,
   Engine.repeated_hashes, then the ids behind them; usually none). A duplicate's first
   copy (lowest source index) is used, the others are counted as the ``duplicate``
   exclusion.
2. ``s``: every row annotated with its local day and hour and its exclusion reason.
3. The groupings (sets_statements), each a table: per (group, cluster), each criterion's
   trials n_g, totals t_g (sums, or counts meeting its bar) and squares, over the rows
   evaluate uses; it grows with clusters and stays in the engine. Then, after step 4 (the
   criteria's statistics run meanwhile): per (group, local day, hour), the exclusions, the
   sampling counts and the period, over every row (and per (group, device) when the
   clusters do not hold the device).
4. Per group and criterion, from the cluster rows: n, Σ t_g, Σ x², G, the cluster-robust
   Σ_g (t_g − n_g t/n)² (two passes: the group's totals joined to its clusters, then the
   squares), and the other sums the criterion's statistic reads (sums.CriterionSums).
5. Per group: exclusions, sampling counts, period, devices, days, hours; the spacing of
   each device's tests (a window per device).
6. On request, the order statistics a median or percentile needs: a window per group,
   keeping only the requested ranks.

The SQL is the part DuckDB and Spark SQL share; the rest is asked of a Dialect.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from typing import Any, Final

from netmeasure.errors import InputError
from netmeasure.evaluate.dialect import Dialect, quote
from netmeasure.evaluate.engine import Engine, SortedTimes, repeated_by_aggregate
from netmeasure.evaluate.localtime import (
    US_PER_DAY,
    US_PER_HOUR,
    Offsets,
    check_points,
    local_us_sql,
    utc_offsets,
)
from netmeasure.evaluate.results import (
    Details,
    DeviceRow,
    FirstTest,
    QuantileCurve,
    TechnologyTests,
    ToolSamples,
)
from netmeasure.evaluate.sums import (
    CriterionSums,
    GroupSums,
    ProbeRow,
    RankRequest,
    SamplingSums,
    Sums,
)
from netmeasure.record import (
    ALL_COLUMNS,
    ENVIRONMENTS,
    EXCLUSION_REASONS,
    errors_of,
    value_outside_sql,
)
from netmeasure.standard import FAILURE_RATIOS, Criterion, Standard


def sum_column(j: int, field: str) -> str:
    """The name of criterion j's ``field`` in criteria_sql."""
    return f"c{j}_{field}"


#: How many rows the details (charts, appendix) carry at most.
DETAIL_POINTS: Final = 101
DETAIL_LOCATIONS: Final = 5000
DETAIL_TESTS: Final = 200
DETAIL_PROBES: Final = 100

#: Derived columns of the annotated view.
_DERIVED: Final = {"day": "_day", "hour": "_hour", **{f"h3_{n}": f"_h3_{n}" for n in range(16)}}


@dataclass(frozen=True)
class Aggregate:
    """One aggregate of a grouping's table: ``fn(arg) FILTER (WHERE cond) AS name``. A
    FILTER clause, not ``count_if(coalesce(cond, FALSE))`` or ``sum(CASE WHEN cond THEN
    value END)``: the engine skips the rows a FILTER excludes instead of evaluating an
    expression for each (analysis/evaluate_bench.py measures it). A row whose condition is
    NULL is left out, as a false one."""

    name: str
    fn: str
    arg: str
    cond: str

    def sql(self) -> str:
        return f"{self.fn}({self.arg}) FILTER (WHERE {self.cond})"

    @property
    def rollup(self) -> str:
        """The aggregate that combines rows of this one (counts and sums add up)."""
        return _ROLLUP[self.fn]


_ROLLUP: Final = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}


@dataclass(frozen=True)
class Plan:
    """The queries of one evaluation: a standard, a grouping and a dialect. Pure text
    building; ``reduce`` and ``order_statistics`` run them on an engine."""

    std: Standard
    group_by: tuple[str, ...]
    dialect: Dialect
    #: The standard's zone's UTC offsets over the data's span (localtime.py): local day
    #: and hour by arithmetic; None: by the engine's time-zone conversion.
    offsets: Offsets | None = None

    # -- columns --------------------------------------------------------------------------

    @property
    def gcols(self) -> list[str]:
        """The group's columns as they are named in ``s`` and ``_sets``."""
        return [_DERIVED.get(g, quote(g)) for g in self.group_by]

    def _text(self, name: str) -> str:
        """A column of ``s`` / ``_sets`` as the group key shows it."""
        if name == "day":
            return self.dialect.date_text("_day")
        return _DERIVED.get(name, quote(name))

    def gkey(self) -> str:
        """The group's key as JSON text, over the group columns."""
        return self.dialect.json_object([(g, self._text(g)) for g in self.group_by])

    def _group_list(self, tail: str = "") -> str:
        """``gcols, `` for a SELECT or GROUP BY (empty without groups)."""
        return "".join(f"{c}, " for c in self.gcols) + tail

    def _sampling(self, of: str = "") -> str:
        """The sampling tests' rows (of ``s``; ``of``: its alias and a dot)."""
        m = self.dialect.literal(self.std.sampling.metric)
        return f"{of}_excluded IS NULL AND {of}metric = {m} AND NOT {of}_ul"

    # -- step 1 and 2: duplicates, the annotated view --------------------------------------

    def hashes_sql(self) -> str:
        """``_h``: the 64-bit hash of every sample id (fixed-size keys: an aggregate of them
        spills to disk within --memory-limit where one of 100 million texts does not)."""
        h = self.dialect.hash64("sample_id")
        return f"SELECT {h} AS _h FROM raw_samples WHERE sample_id IS NOT NULL"

    def duplicates_sql(self, repeated: str | None = None) -> str:
        """``_dups``: the sample ids seen more than once: the ids behind the hashes seen
        more than once (``repeated``, a relation with column ``_h``, from
        Engine.repeated_hashes; by default an aggregate). Usually there are none, and the
        scan reads nothing."""
        h = self.dialect.hash64("sample_id")
        twice = repeated or repeated_by_aggregate(self.hashes_sql())
        return self.dialect.create_temp_table(
            "_dups",
            f"SELECT sample_id FROM raw_samples WHERE sample_id IS NOT NULL"
            f" AND {h} IN (SELECT _h FROM {twice}) GROUP BY sample_id HAVING count(*) > 1",
        )

    def deduplicated_sql(self, any_duplicates: bool) -> str:
        """raw_samples with ``_dup`` (a later copy of a sample id). Without duplicates (the
        common case) no row is compared with another."""
        cols = ", ".join(quote(c) for c in [*ALL_COLUMNS, "_source"])
        if not any_duplicates:
            return f"SELECT {cols}, FALSE AS _dup FROM raw_samples"
        return (
            f"SELECT {cols}, FALSE AS _dup FROM raw_samples WHERE sample_id IS NULL"
            " OR sample_id NOT IN (SELECT sample_id FROM _dups)"
            f" UNION ALL SELECT {cols}, _n > 1 AS _dup FROM ("
            f"SELECT {cols}, row_number() OVER (PARTITION BY sample_id ORDER BY _source,"
            " started_at, metric, value, test_id) AS _n FROM raw_samples"
            " WHERE sample_id IN (SELECT sample_id FROM _dups))"
        )

    def annotated_sql(self, any_duplicates: bool) -> str:
        d = self.dialect
        meta = self.std.meta
        techs = meta.technology
        tech_ok = (
            "technology IN (" + ", ".join(self.dialect.literal(t) for t in techs) + ")"
            if techs
            else "TRUE"
        )
        return f"""
            SELECT *,
              {self.local_day_sql()} AS _day,
              {self.local_hour_sql()} AS _hour,{self._local_hours()}{self._h3_columns()}
              coalesce(under_load, FALSE) AS _ul,
              CASE
                WHEN _dup THEN 'duplicate'
                WHEN started_at IS NULL OR metric IS NULL OR ok IS NULL THEN 'invalid_value'
                WHEN ok AND (value IS NULL OR {d.is_nan("value")} OR {d.is_inf("value")}
                             OR {value_outside_sql()}) THEN 'invalid_value'
                WHEN NOT ok AND value IS NOT NULL THEN 'invalid_value'
                WHEN NOT ({tech_ok}) OR technology IS NULL AND {str(bool(techs)).upper()}
                  THEN 'technology'
                WHEN NOT ok AND {self._error_in("interrupted")} THEN 'interrupted'
                WHEN NOT ok AND {self._error_in("test_system")} THEN 'test_system'
                WHEN clock_synced = FALSE THEN 'clock_unsynced'
                ELSE NULL
              END AS _excluded
            FROM ({self.deduplicated_sql(any_duplicates)}) AS r"""

    def _local_us(self) -> str:
        assert self.offsets is not None
        return local_us_sql(self.dialect.epoch_us("started_at"), self.offsets)

    def local_day_sql(self) -> str:
        """started_at's day in the standard's zone."""
        if self.offsets is None:
            return f"CAST({self.dialect.local_time('started_at', self.std.meta.timezone)} AS DATE)"
        d = self.dialect
        return d.days_to_date(d.int_div(self._local_us(), str(US_PER_DAY)))

    def local_hour_sql(self) -> str:
        """started_at's hour of the day in the standard's zone."""
        if self.offsets is None:
            return f"hour({self.dialect.local_time('started_at', self.std.meta.timezone)})"
        return f"({self.dialect.int_div(self._local_us(), str(US_PER_HOUR))} % 24)"

    def _local_hours(self) -> str:
        """``_lh``, the local hour since 1970 (with the zone's offsets only)."""
        if self.offsets is None:
            return ""
        return f"\n              {self.dialect.int_div(self._local_us(), str(US_PER_HOUR))} AS _lh,"

    def span_sql(self) -> str:
        """The rows, and the first and last started_at in microseconds since 1970 (one
        query: a CSV or JSON source is parsed once for both). The conversion after the
        aggregate: DuckDB then answers from a Parquet file's statistics instead of
        converting every row."""
        ep = self.dialect.epoch_us
        return f"SELECT count(*), {ep('min(started_at)')}, {ep('max(started_at)')} FROM raw_samples"

    def offsets_check_sql(self, last_us: int) -> str:
        """The count of the points (every hour of the span, both sides of every offset
        change) where the offsets' arithmetic and the engine's own conversion disagree on
        the day or the hour (reduce uses the offsets only with 0)."""
        assert self.offsets is not None
        d = self.dialect
        local = d.local_time("started_at", self.std.meta.timezone)
        first = self.offsets[0][0]
        points = " UNION ALL ".join(
            [f"SELECT us FROM {d.integer_series(first, last_us, US_PER_HOUR)} AS h"]
            + [f"SELECT {p} AS us" for p in check_points(self.offsets, last_us)]
        )
        ts = f"SELECT {d.us_to_timestamp('us')} AS started_at FROM ({points}) AS p"
        return (
            f"SELECT count(*) FROM ({ts}) AS t WHERE NOT (CAST({local} AS DATE)"
            f" = {self.local_day_sql()} AND hour({local}) = {self.local_hour_sql()})"
        )

    def _h3_columns(self) -> str:
        """The H3 cells the grouping or clustering uses (h3_N: resolution N), derived by
        the engine's function (DuckDB: a vectorised Python UDF over the h3 package)."""
        used = [c for c in dict.fromkeys([*self.group_by, *self.std.meta.cluster])]
        cells = [c for c in used if c.startswith("h3_")]
        if not cells:
            return ""
        out = []
        for c in cells:
            cell = self.dialect.h3_cell("latitude", "longitude", int(c[3:]))
            if cell is None:
                raise InputError(f"--group-by {c}: this engine cannot derive H3 cells")
            out.append(f"\n              {cell} AS _h3_{c[3:]},")
        return "".join(out)

    # -- the rows of an outcome, of a criterion ------------------------------------------

    def _error_in(self, outcome: str) -> str:
        """``error`` is one of the classes of this outcome (record.ERROR_OUTCOMES)."""
        lit = self.dialect.literal
        return "error IN (" + ", ".join(lit(e) for e in errors_of(outcome)) + ")"

    def _cutoff(self) -> str:
        return self._error_in("cutoff")

    def _criterion_rows(self, c: Criterion) -> str:
        """The rows a criterion reads (of the used ones): its metrics, its tools, and, except
        for the failure ratios (every attempt counts), its under-load flag."""
        lit = self.dialect.literal
        out = "metric IN (" + ", ".join(lit(m) for m in c.metrics) + ")"
        if c.tools:
            out += " AND tool IN (" + ", ".join(lit(t) for t in c.tools) + ")"
        if c.statistic not in FAILURE_RATIOS:
            out += f" AND _ul = {str(c.under_load).upper()}"
        return out

    # -- step 3: the groupings -------------------------------------------------------------

    def _cluster_cols(self) -> list[str]:
        return [_DERIVED.get(c, quote(c)) for c in self.std.meta.cluster]

    def sets(self) -> dict[str, tuple[str, ...]]:
        """The groupings of ``_sets``, by role: ``cluster`` (the criteria's sums, over the
        rows evaluate uses), ``cell`` (group, local day and hour: exclusions, sampling
        counts, period, over every row) and, when the clusters do not hold the device,
        ``probe`` (group and device: the devices with a used sample)."""
        g = self.gcols
        out = {
            "cluster": tuple(dict.fromkeys([*g, *self._cluster_cols()])),
            "cell": tuple(dict.fromkeys([*g, "_day", "_hour"])),
        }
        if not self._devices_in_clusters():
            out["probe"] = tuple(dict.fromkeys([*g, quote("probe_id")]))
        return out

    def _devices_in_clusters(self) -> bool:
        return quote("probe_id") in self._cluster_cols()

    def _all_set_columns(self) -> list[str]:
        return list(dict.fromkeys(c for cols in self.sets().values() for c in cols))

    def set_id(self, role: str) -> int:
        """The grouping id (a bit per column of ``_all_set_columns``, 1 = not grouped;
        the first column the most significant) of a role's rows."""
        cols = self._all_set_columns()
        grouped = set(self.sets()[role])
        out = 0
        for c in cols:
            out = out * 2 + (0 if c in grouped else 1)
        return out

    def _criterion_columns(self, j: int, c: Criterion) -> list[Aggregate]:
        """Criterion j's trials ``n{j}``, totals ``t{j}``, (means) sums of squares ``q{j}``
        and of cubes ``cu{j}``, and rows ``a{j}`` (ok or failed: whether it was measured at
        all) per cluster, over the rows evaluate uses (the cluster grouping's rows: no
        condition repeats ``_excluded IS NULL``)."""
        base = self._criterion_rows(c)
        ok = f"{base} AND ok"
        rows = Aggregate(f"a{j}", "count", "*", base)
        if c.statistic == "mean":
            return [
                Aggregate(f"n{j}", "count", "*", ok),
                Aggregate(f"t{j}", "sum", "value", ok),
                Aggregate(f"q{j}", "sum", "value * value", ok),
                Aggregate(f"cu{j}", "sum", "value * value * value", ok),
                rows,
            ]
        if c.statistic == "share":
            attempts = ok if c.failed == "exclude" else base
            bar = (
                f"value >= {float(c.at_least)!r}"
                if c.at_least is not None
                else f"value <= {float(c.at_most or 0.0)!r}"
            )
            return [
                Aggregate(f"n{j}", "count", "*", attempts),
                Aggregate(f"t{j}", "count", "*", f"{ok} AND {bar}"),
                rows,
            ]
        if c.statistic == "failure_ratio":
            return [
                Aggregate(f"n{j}", "count", "*", base),
                Aggregate(f"t{j}", "count", "*", f"{base} AND NOT ok"),
                rows,
            ]
        if c.statistic == "access_failure_ratio":
            # ETSI TS 102 250-2: an access failure is an attempt that never reached first
            # data; a cut-off had reached it (a successful access)
            return [
                Aggregate(f"n{j}", "count", "*", base),
                Aggregate(f"t{j}", "count", "*", f"{base} AND NOT ok AND NOT {self._cutoff()}"),
                rows,
            ]
        if c.statistic == "cutoff_ratio":
            # the transfers that reached first data: completed (ok) or cut off
            return [
                Aggregate(f"n{j}", "count", "*", f"{base} AND (ok OR {self._cutoff()})"),
                Aggregate(f"t{j}", "count", "*", f"{base} AND NOT ok AND {self._cutoff()}"),
                rows,
            ]
        # median, percentile: the count below the threshold (Woodruff, samples_needed)
        return [
            Aggregate(f"n{j}", "count", "*", ok),
            Aggregate(f"t{j}", "count", "*", f"{ok} AND value < {float(c.threshold)!r}"),
            rows,
        ]

    def sets_statements(self) -> dict[str, str]:
        """Step 3, by role: a scan of ``s`` per grouping, each into its own table
        (``set_table``), and last (role ``_sets``) the view ``_sets`` of all of their rows
        (for the dashboard's running tables).

        - cluster: per (group, cluster) the criteria's trials, totals and squares, from the
          rows evaluate uses. Its rows grow with clusters and stay in the engine.
        - cell: per (group, local day, hour) the exclusions, the sampling counts and the
          period, from every row.
        - probe (when the clusters do not hold the device): the (group, device) pairs of
          the used rows.

        Each aggregate is computed only where it is read (a hash aggregate's cost grows
        with groups x aggregates, and the clusters are nearly as many as the samples in
        crowdsourced data), and each table holds only its own columns: writing the other
        groupings' columns as NULL cost the cluster table of 10 M crowdsourced samples 0.8
        CPU-s. In the view, a row's columns that its grouping does not compute are NULL."""
        per_cluster, per_group = self._set_aggregates()
        # the criteria's sums: one grouping, over the rows no exclusion removed (every
        # criterion's trials are among them); the rest, over every row: one grouping
        # (group, day, hour), whose rows add up to the group's, the days' and the hours'
        # figures; the devices, when the clusters do not tell them
        computed = {
            "cluster": (per_cluster, "_excluded IS NULL"),
            "cell": (per_group, None),
            "probe": ([], "_excluded IS NULL"),
        }
        roles = list(self.sets())
        out = {role: self._grouping(role, *computed[role]) for role in roles}
        every = [a.name for a in [*per_cluster, *per_group]]
        cols = self._all_set_columns()
        union = []
        for role in roles:
            keys = self.sets()[role]
            done = {a.name for a in computed[role][0]}
            select = [c if c in keys else f"NULL AS {c}" for c in cols]
            select.append(f"{self.set_id(role)} AS _set")
            select += [n if n in done else f"NULL AS {n}" for n in every]
            union.append(f"SELECT {', '.join(select)} FROM {quote(self.set_table(role))}")
        out["_sets"] = self.dialect.create_temp_view("_sets", " UNION ALL ".join(union))
        return out

    def set_aggregates(self) -> tuple[Aggregate, ...]:
        """Every aggregate column of ``_sets`` (the dashboard's running tables combine
        their rows by each one's ``rollup``)."""
        per_cluster, per_group = self._set_aggregates()
        return (*per_cluster, *per_group)

    def _set_aggregates(self) -> tuple[list[Aggregate], list[Aggregate]]:
        """The cluster grouping's aggregates (the criteria's) and the cell grouping's."""
        sampling = self._sampling()
        per_cluster = [
            col for j, c in enumerate(self.std.criteria) for col in self._criterion_columns(j, c)
        ]
        per_group = [
            Aggregate(f"x_{r}", "count", "*", f"_excluded = {self.dialect.literal(r)}")
            for r in EXCLUSION_REASONS
        ]
        per_group.append(Aggregate("sampling", "count", "*", sampling))
        per_group += [
            Aggregate(
                f"env_{e}", "count", "*", f"{sampling} AND environment = {self.dialect.literal(e)}"
            )
            for e in ENVIRONMENTS
        ]
        per_group += [
            Aggregate("used", "count", "*", "_excluded IS NULL"),
            Aggregate("tmin", "min", "started_at", "_excluded IS NULL"),
            Aggregate("tmax", "max", "started_at", "_excluded IS NULL"),
        ]
        return per_cluster, per_group

    @staticmethod
    def set_table(role: str) -> str:
        """The name of the table of one grouping's rows (sets_statements)."""
        return f"_by_{role}"

    def _grouping(self, role: str, computed: list[Aggregate], where: str | None) -> str:
        """One grouping's table: the role's keys and the ``computed`` aggregates."""
        keys = list(self.sets()[role])
        select = [*keys, *(f"{a.sql()} AS {a.name}" for a in computed)]
        grouped = keys
        if self.offsets is not None and "_hour" in keys:
            # With the zone's offsets, one integer key, the local hour since 1970 (>= 0:
            # localtime.py takes no span before 1970), instead of the day and the hour,
            # each an expression a row; the day and the hour are computed from it after
            # grouping, once per group instead of once per row.
            d = self.dialect
            derived = {
                "_day": f"{d.days_to_date(d.int_div('_lh', '24'))} AS _day",
                "_hour": "(_lh % 24) AS _hour",
            }
            select = [derived.get(k, k) for k in select]
            grouped = [k for k in keys if k not in derived] + ["_lh"]
        source = "s" + (f" WHERE {where}" if where else "")
        group = f" GROUP BY {', '.join(grouped)}" if grouped else ""
        body = f"SELECT {', '.join(select)} FROM {source}{group}"
        return self.dialect.create_temp_table(self.set_table(role), body)

    def role_rows_sql(self, role: str) -> str:
        """One grouping's rows of ``_sets`` (an engine that keeps ``_sets`` itself, as the
        dashboard does, makes the tables of sets_statements from it)."""
        return f"SELECT * FROM _sets WHERE _set = {self.set_id(role)}"

    def _rows(self, role: str) -> str:
        return f"{quote(self.set_table(role))} AS r"

    def criteria_sql(self) -> str:
        """Per group, for each criterion j, the fields of sums.CriterionSums in order: n,
        total, Σx², G, Σ_g r_g² (r_g = t_g − n_g · total / n), Σ n_g², Σ r_g² / n_g, the
        CR2 sums and the Berger-Boos sums (each only for the statistics that read it, else
        0: a sum nobody reads is a cost per cluster), and the criterion's rows."""
        resid = []
        totals = []
        out = []
        for j, c in enumerate(self.std.criteria):
            # The group's mean of t per trial, then each cluster's residual r_g = t_g - n_g t/n
            # (the residual of the cluster-robust sums methods_clustered reads).
            resid.append(f"CASE WHEN n{j} > 0 THEN t{j} - n{j} * (tt{j} / ntot{j}) END AS r{j}")
            totals += [f"sum(t{j}) AS tt{j}", f"sum(n{j}) AS ntot{j}"]
            mean = c.statistic == "mean"
            # n_g as a double (1.0 * n_g is a DECIMAL in DuckDB and Spark, and slower)
            m = f"CAST(n{j} AS DOUBLE)"
            # means (CR2, Bell-McCaffrey), in doubles (n_g^4 overflows 64-bit integers):
            # w_g = 1 / (1 - n_g / n), 0 for a single cluster
            w = f"CASE WHEN n{j} > 0 AND n{j} < ntot{j} THEN 1.0 / (1.0 - {m} / ntot{j}) ELSE 0 END"
            # quantiles (Berger-Boos): Σ_g k_g² and Σ_g n_g k_g, in exact integers
            bb = c.statistic in ("median", "percentile")
            exprs = {
                "n": f"sum(n{j})",
                "total": f"sum(t{j})",
                "total_sq": f"sum(q{j})" if mean else "0",
                "clusters": f"count(*) FILTER (WHERE n{j} > 0)",
                "cluster_ss": f"coalesce(sum(r{j} * r{j}), 0)",
                "sum_sq_sizes": f"coalesce(sum({m} * {m}), 0)",
                "between_ss": f"coalesce(sum(CASE WHEN n{j} > 0 THEN r{j} * r{j} / {m} END), 0)",
                "cr2_ss": f"coalesce(sum(({w}) * r{j} * r{j}), 0)" if mean else "0",
                "w_sizes_sq": f"coalesce(sum(({w}) * {m} * {m}), 0)" if mean else "0",
                "w2_sizes_4": (
                    f"coalesce(sum(({w}) * ({w}) * {m} * {m} * {m} * {m}), 0)" if mean else "0"
                ),
                "sum_k_sq": f"coalesce(sum(t{j} * t{j}), 0)" if bb else "0",
                "sum_size_k": f"coalesce(sum(n{j} * t{j}), 0)" if bb else "0",
                "total_cube": f"sum(cu{j})" if mean else "0",
                "cluster_cube": f"coalesce(sum(r{j} * r{j} * r{j}), 0)" if mean else "0",
                "rows": f"coalesce(sum(a{j}), 0)",
            }
            assert set(exprs) == set(SUMMED_FIELDS)
            out += [f"{exprs[f]} AS {sum_column(j, f)}" for f in SUMMED_FIELDS]
        # the group's totals joined to its clusters (a join streams and spills; a window
        # over tens of millions of clusters held them in memory)
        group = f" GROUP BY {', '.join(self.gcols)}" if self.gcols else ""
        keys = self._group_list()
        by_group = f"SELECT {keys}{', '.join(totals)} FROM {self._rows('cluster')}{group}"
        on = " AND ".join(self.dialect.null_safe_equal(f"r.{g}", f"tot.{g}") for g in self.gcols)
        names = ", ".join(f"tot.{t.split(' AS ')[1]}" for t in totals)
        join = f"JOIN ({by_group}) AS tot ON {on}" if on else f"CROSS JOIN ({by_group}) AS tot"
        inner = f"SELECT r.*, {names} FROM {self._rows('cluster')} {join}"
        inner = f"SELECT *, {', '.join(resid)} FROM ({inner}) AS j"
        return f"SELECT {self.gkey()} AS _gkey, {', '.join(out)} FROM ({inner}) AS c{group}"

    def criteria_columns(self) -> tuple[str, ...]:
        """The names of criteria_sql's columns, in its order (``_gkey``, then per criterion
        j every one of SUMMED_FIELDS as ``sum_column(j, field)``)."""
        per = (sum_column(j, f) for j in range(len(self.std.criteria)) for f in SUMMED_FIELDS)
        return ("_gkey", *per)

    def sizes_sql(self) -> str:
        """Per criterion j and group: the histogram of the cluster sizes (j, group, n_g,
        clusters). First the clusters' distinct combinations of sizes (a few thousand in
        crowdsourced data; at most the clusters), then each criterion's histogram from
        them: one scan of the clusters where a query per criterion scanned them once each."""
        sizes = ", ".join(f"n{j}" for j in range(len(self.std.criteria)))
        combos = (
            f"SELECT {self._group_list()}{sizes}, count(*) AS _clusters"
            f" FROM {self._rows('cluster')} GROUP BY {self._group_list()}{sizes}"
        )
        each = [
            f"SELECT {j} AS _j, {self.gkey()}, n{j}, sum(_clusters) FROM _combos"
            f" WHERE n{j} > 0 GROUP BY {self._group_list()}n{j}"
            for j in range(len(self.std.criteria))
        ]
        return f"WITH _combos AS ({combos}) " + " UNION ALL ".join(each)

    def groups_sql(self) -> str:
        """Per group: exclusions, used samples, sampling counts, period; and devices with
        a used sample (rows without a probe id are one device). Every row of ``s`` is in
        one cell; every used row in one cluster (and one device row)."""
        d = self.dialect
        cols = [f"sum(x_{r})" for r in EXCLUSION_REASONS]
        cols += ["sum(sampling)", *(f"sum(env_{e})" for e in ENVIRONMENTS)]
        cols += ["sum(used)", d.iso_text("min(tmin)"), d.iso_text("max(tmax)")]
        group = f" GROUP BY {', '.join(self.gcols)}" if self.gcols else ""
        role = "cluster" if self._devices_in_clusters() else "probe"
        pid = quote("probe_id")
        devices = (
            f"SELECT {self.gkey()} AS _gkey, count(DISTINCT {pid})"
            f" + max(CASE WHEN {pid} IS NULL THEN 1 ELSE 0 END) AS devices"
            f" FROM {self._rows(role)}{group}"
        )
        totals = f"SELECT {self.gkey()} AS _gkey, {', '.join(cols)} FROM {self._rows('cell')}"
        return (
            f"SELECT t.*, coalesce(p.devices, 0) FROM ({totals}{group}) AS t"
            f" LEFT JOIN ({devices}) AS p ON t._gkey = p._gkey"
        )

    def days_sql(self) -> str:
        group = self._group_list("_day")
        return (
            f"SELECT {self.gkey()}, {self.dialect.date_text('_day')}, sum(sampling)"
            f" FROM {self._rows('cell')} GROUP BY {group} HAVING sum(sampling) > 0"
        )

    def hours_sql(self) -> str:
        return (
            f"SELECT {self.gkey()}, _hour, sum(sampling) FROM {self._rows('cell')}"
            f" GROUP BY {self._group_list('_hour')} HAVING sum(sampling) > 0"
        )

    def spacing_sql(self) -> str | None:
        need = self.std.sampling.min_spacing_s
        if need is None:
            return None
        # One row of the sampling metric is one test (a throughput run writes one download);
        # gaps are per device, whatever group its tests fall in. The times in microseconds
        # once, before the window (converted in it, they would be converted twice a row).
        # Tests of one device at one instant in two groups: the group order breaks the
        # tie (the gap of 0 counts in the group sorted later), in spacing_by_sort too.
        gap = f"(_us - lag(_us) OVER (PARTITION BY probe_id ORDER BY {self._time_order()})) / 1e6"
        times = self._spacing_times()
        group = f" GROUP BY {', '.join(self.gcols)}" if self.gcols else ""
        return (
            f"SELECT {self.gkey()}, count(*) FILTER (WHERE gap < {need!r}), min(gap) FROM ("
            f"SELECT {self._group_list()}{gap} AS gap FROM ({times}) AS u) AS t{group}"
        )

    def _spacing_times(self) -> str:
        """The sampling tests (group columns, probe_id, ``_us``): each test's time in
        microseconds as the spacing reads it. A test with a ``boot_id`` and a
        ``monotonic_s`` is placed by its monotonic clock: the boot's monotonic time plus
        one offset per (device, boot), the wall-minus-monotonic offset of the boot's
        latest test (the one most likely after the clock synchronised). So two tests of one
        boot are ``monotonic_s`` apart, whatever the wall clock did between them (a clock
        ahead then stepped back, issue 23), and are ordered as they ran; any other test,
        and a pair across boots, is placed by its wall time. Without the two columns
        (older probes, imports) every test is at its wall time, as before."""
        d = self.dialect
        mono = "CAST(round(monotonic_s * 1e6) AS BIGINT)"
        # DESC puts the boot's latest test first; the wall time breaks a tie
        boot = (
            "PARTITION BY probe_id, boot_id, monotonic_s IS NULL"
            " ORDER BY monotonic_s DESC, _wall DESC"
        )
        placed = (
            "CASE WHEN boot_id IS NOT NULL AND monotonic_s IS NOT NULL"
            f" THEN first_value(_wall - _mono) OVER ({boot}) + _mono ELSE _wall END"
        )
        inner = (
            f"SELECT {self._group_list()}probe_id, boot_id, monotonic_s,"
            f" {d.epoch_us('started_at')} AS _wall, {mono} AS _mono"
            f" FROM s WHERE {self._sampling()}"
        )
        return f"SELECT {self._group_list()}probe_id, {placed} AS _us FROM ({inner}) AS w"

    def _group_order(self) -> str:
        """The groups' order (the spacing's tie-break; the same in both its ways)."""
        return ", ".join(f"{c} NULLS LAST" for c in self.gcols)

    def _time_order(self) -> str:
        """The spacing's order of a device's tests: time, then group."""
        return ", ".join(["_us", self._group_order()]) if self.gcols else "_us"

    def spacing_by_sort(self) -> SortedTimes | None:
        """spacing_sql's figures as one sort (Engine.spacing): the devices and the groups
        numbered from the cluster grouping's table (or the device grouping's: every
        sampling test is a used row), then the sampling tests' (device number, time, group
        number) sorted by device and time."""
        need = self.std.sampling.min_spacing_s
        if need is None:
            return None
        d = self.dialect
        table = quote(self.set_table("cluster" if self._devices_in_clusters() else "probe"))
        devices = d.create_temp_table(
            "_spacing_devices",
            "SELECT probe_id, row_number() OVER (ORDER BY probe_id) AS _p"
            f" FROM (SELECT DISTINCT probe_id FROM {table}) AS t",
        )
        on = [d.null_safe_equal("s.probe_id", "dv.probe_id")]
        setup = [devices]
        if self.gcols:
            cols = ", ".join(self.gcols)
            setup.append(
                d.create_temp_table(
                    "_spacing_groups",
                    f"SELECT {cols}, row_number() OVER (ORDER BY {self._group_order()}) - 1 AS _g"
                    f" FROM (SELECT DISTINCT {cols} FROM {table}) AS t",
                )
            )
            groups_sql = f"SELECT _g, {self.gkey()} FROM _spacing_groups"
            on += [d.null_safe_equal(f"s.{c}", f"gr.{c}") for c in self.gcols]
            join = "JOIN _spacing_groups AS gr ON " + " AND ".join(on[1:])
            group = "gr._g"
        else:
            groups_sql = f"SELECT 0, {self.gkey()}"
            join, group = "", "CAST(0 AS BIGINT)"
        times_sql = (
            f"SELECT dv._p, s._us, {group} AS _g FROM ({self._spacing_times()}) AS s"
            f" JOIN _spacing_devices AS dv ON {on[0]} {join} ORDER BY 1, 2, 3"
        )
        return SortedTimes(tuple(setup), groups_sql, times_sql, float(need))

    def probes_sql(self, limit: int | None) -> str:
        """Per (group, device): used samples, first, last, most frequent environment. With
        ``limit``: the ``limit`` devices with most samples over all groups together."""
        grouped = limit is None
        gl = self._group_list() if grouped else ""
        used = "_excluded IS NULL"
        d = self.dialect
        env = f"""SELECT {gl}probe_id, environment, row_number() OVER (
                    PARTITION BY {gl}probe_id ORDER BY count(*) DESC, environment) AS k
                  FROM s WHERE {used} AND environment IS NOT NULL
                  GROUP BY {gl}probe_id, environment"""
        on = " AND ".join(
            d.null_safe_equal(f"p.{c}", f"e.{c}")
            for c in [*(self.gcols if grouped else []), "probe_id"]
        )
        key = self._prefixed_gkey("p") if grouped else "'{}'"
        top = "" if grouped else f" ORDER BY 3 DESC, 2 LIMIT {int(limit or 0)}"
        return f"""
            SELECT {key}, p.probe_id, p.samples, e.environment, {d.iso_text("p.first")},
                   {d.iso_text("p.last")}
            FROM (SELECT {gl}probe_id, count(*) AS samples, min(started_at) AS first,
                         max(started_at) AS last
                  FROM s WHERE {used} GROUP BY {gl}probe_id) AS p
            LEFT JOIN ({env}) AS e ON {on} AND e.k = 1{top}"""

    def _prefixed_gkey(self, alias: str) -> str:
        fields = []
        for g in self.group_by:
            col = f"{alias}.{_DERIVED.get(g, quote(g))}"
            fields.append((g, self.dialect.date_text(col) if g == "day" else col))
        return self.dialect.json_object(fields)

    # -- step 6: order statistics ----------------------------------------------------------

    def groups_table_sql(self) -> str:
        """The groups with their JSON key, to join rows to requested ranks."""
        cols = self._group_list()
        return self.dialect.create_temp_table(
            "_groups",
            f"SELECT DISTINCT {cols}{self.gkey()} AS _gkey FROM {self._rows('cell')}",
        )

    def values_sql(self, j: int) -> str:
        """(g, value): the group's JSON key and each value criterion j's order statistics
        rank, for the groups that requested ranks."""
        c = self.std.criteria[j]
        on = " AND ".join(self.dialect.null_safe_equal(f"v.{g}", f"g.{g}") for g in self.gcols)
        join = f"JOIN _groups AS g ON {on}" if on else "CROSS JOIN _groups AS g"
        return f"""
            SELECT g._gkey AS g, v.value AS value
            FROM (SELECT {self._group_list()}value FROM s
                  WHERE _excluded IS NULL AND ok AND {self._criterion_rows(c)}) AS v
            {join}"""


#: The rows the report's appendix lists: used, not under load.
_LISTED: Final = "_excluded IS NULL AND NOT coalesce(under_load, FALSE)"


def _first_tests_sql(engine: Engine, plan: Plan) -> str:
    """The first DETAIL_TESTS tests (by their first row's time, then test id), each as one
    row with its metrics and values.

    Without grouping every test (millions in crowdsourced data): the tests that come first
    all start at or before T, the time at which the DETAIL_TESTS-th distinct test appears
    in time order, which the earliest rows show (read in growing top-N batches). Only the
    rows up to T are grouped, then only the chosen tests' rows."""
    d = plan.dialect
    limit = DETAIL_TESTS * 8
    cut: Any = None
    while True:
        rows = engine.fetch(
            f"SELECT probe_id, test_id, {d.epoch_us('started_at')} FROM s WHERE {_LISTED}"
            f" AND started_at IS NOT NULL ORDER BY 3 LIMIT {limit}"
        )
        seen: set[tuple[Any, Any]] = set()
        for pid, tid, t in rows:
            seen.add((pid, tid))
            if len(seen) == DETAIL_TESTS:
                cut = t
                break
        if cut is not None or len(rows) < limit:
            break
        limit *= 8
    upto = "" if cut is None else f" AND {d.epoch_us('started_at')} <= {int(cut)}"
    first = f"""SELECT probe_id, test_id FROM s WHERE {_LISTED}{upto}
        GROUP BY probe_id, test_id ORDER BY min(started_at), test_id LIMIT {DETAIL_TESTS}"""
    on = " AND ".join(d.null_safe_equal(f"s.{c}", f"f.{c}") for c in ("probe_id", "test_id"))
    return f"""
        SELECT {d.iso_text("min(started_at)")}, s.probe_id, s.test_id, min(tool),
               min(target), {d.ordered_list("metric", "metric")},
               {d.ordered_list("value", "metric")}, min(ok), min(error), min(environment),
               min(area)
        FROM s JOIN ({first}) AS f ON {on}
        WHERE {_LISTED}
        GROUP BY s.probe_id, s.test_id ORDER BY 1, 3 LIMIT {DETAIL_TESTS}"""


# -- running ------------------------------------------------------------------------------


def _int(x: Any) -> int:
    return 0 if x is None else int(x)


def _float(x: Any) -> float:
    return 0.0 if x is None else float(x)


#: The fields of sums.CriterionSums that criteria_sql sums, in its order, each with its
#: conversion from the engine's value (NULL: no row): the SQL's column names and their
#: reader derive from the dataclass, never from positions.
SUMMED_FIELDS: Final[dict[str, Callable[[Any], Any]]] = {
    f.name: _int if f.type == "int" else _float
    for f in dataclass_fields(CriterionSums)
    if f.name != "sizes"  # the histogram of cluster sizes: its own query (sizes_sql)
}


def _with_offsets(engine: Engine, plan: Plan, first: Any, last: Any) -> Plan:
    """``plan`` with its zone's offsets over the data's span (``first``, ``last``: from
    span_sql), where the engine's own
    conversion agrees with them at every hour of the span and on both sides of every
    offset change (localtime.py); otherwise ``plan`` (the engine converts)."""
    if first is None or last is None:
        return plan
    first, last = int(first), int(last)
    offsets = utc_offsets(plan.std.meta.timezone, first, last)
    if offsets is None:
        return plan
    fast = replace(plan, offsets=offsets)
    wrong = engine.fetch(fast.offsets_check_sql(last))
    return fast if wrong and wrong[0][0] == 0 else plan


#: Per group (its JSON key), per criterion: the clustered sums.
CriteriaSums = dict[str, tuple[CriterionSums, ...]]


def reduce(engine: Engine, plan: Plan, *, details: bool = False, probes: bool = False) -> Sums:
    """Steps 1-5 on ``engine``: the sums of every group (and, on request, the report's
    details and the per-device rows)."""
    plan = annotate(engine, plan)
    criteria = criteria_sums(engine, plan)
    return group_sums(engine, plan, criteria, details=details, probes=probes)


def annotate(engine: Engine, plan: Plan) -> Plan:
    """Steps 1-2: the duplicates and the annotated view ``s``. Returns the plan the view
    was made with (its zone's offsets found) for the later steps."""
    span = engine.fetch(plan.span_sql())
    if not span or not span[0][0]:
        names = ", ".join(s.name for s in engine.sources)
        raise InputError(f"{names}: no samples to evaluate (the dataset is empty)")
    plan = _with_offsets(engine, plan, span[0][1], span[0][2])
    repeated = engine.repeated_hashes(plan.hashes_sql(), int(span[0][0]))
    engine.execute(plan.duplicates_sql(repeated))
    dups = engine.fetch("SELECT count(*) FROM _dups")[0][0]
    engine.execute(plan.dialect.create_temp_view("s", plan.annotated_sql(bool(dups))))
    return plan


def criteria_sums(engine: Engine, plan: Plan) -> CriteriaSums:
    """Steps 3-4 for the criteria, after ``annotate``: the cluster grouping, and from it
    every criterion's sums per group."""
    # the other groupings in group_sums: the criteria's statistics can start sooner
    engine.execute(plan.sets_statements()["cluster"])
    ncrit = len(plan.std.criteria)
    criteria: CriteriaSums = {}
    sizes: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for j, gkey, m, count in engine.fetch(plan.sizes_sql()):
        sizes.setdefault((gkey, int(j)), []).append((_int(m), _int(count)))
    names = plan.criteria_columns()
    for row in engine.fetch(plan.criteria_sql()):
        if len(row) != len(names):  # the SQL and its names are built together: never
            raise AssertionError(f"criteria_sql gave {len(row)} columns, expected {len(names)}")
        named = dict(zip(names, row, strict=True))
        gkey = named["_gkey"]
        criteria[gkey] = tuple(
            CriterionSums(
                **{f: SUMMED_FIELDS[f](named[sum_column(j, f)]) for f in SUMMED_FIELDS},
                sizes=tuple(sorted(sizes.get((gkey, j), []))),
            )
            for j in range(ncrit)
        )
    return criteria


def group_sums(
    engine: Engine,
    plan: Plan,
    criteria: CriteriaSums,
    *,
    details: bool = False,
    probes: bool = False,
) -> Sums:
    """Step 5, after ``criteria_sums``: each group's exclusions, sampling counts, spacing,
    period and devices, with its criteria's sums (and, on request, the report's details
    and the per-device rows)."""
    std = plan.std
    ncrit = len(std.criteria)
    for role, sql in plan.sets_statements().items():
        if role != "cluster":
            engine.execute(sql)
    # a group whose every row is excluded has no cluster rows
    nothing = tuple(CriterionSums() for _ in range(ncrit))
    days: dict[str, dict[str, int]] = {}
    for gkey, day, n in engine.fetch(plan.days_sql()):
        days.setdefault(gkey, {})[str(day)] = int(n)
    hours: dict[str, dict[int, int]] = {}
    for gkey, hour, n in engine.fetch(plan.hours_sql()):
        hours.setdefault(gkey, {})[int(hour)] = int(n)
    spacing: dict[str, tuple[int, float | None]] = {}
    spacing_sql, by_sort = plan.spacing_sql(), plan.spacing_by_sort()
    if spacing_sql and by_sort:
        for gkey, v, gap in engine.spacing(spacing_sql, by_sort):
            spacing[gkey] = (int(v), None if gap is None else float(gap))
    probe_rows: dict[str, list[ProbeRow]] | None = None
    if probes:
        probe_rows = {}
        for gkey, pid, n, env, first, last in engine.fetch(plan.probes_sql(None)):
            if n:
                probe_rows.setdefault(gkey, []).append(ProbeRow(pid, env, int(n), first, last))
    groups = []
    nenv = len(ENVIRONMENTS)
    nx = len(EXCLUSION_REASONS)
    for row in sorted(engine.fetch(plan.groups_sql()), key=lambda r: str(r[0])):
        gkey = row[0]
        excluded = {r: _int(v) for r, v in zip(EXCLUSION_REASONS, row[1 : 1 + nx], strict=True)}
        tests = _int(row[1 + nx])
        per_env = {
            e: _int(v) for e, v in zip(ENVIRONMENTS, row[2 + nx : 2 + nx + nenv], strict=True)
        }
        used, first, last, n_probes = row[2 + nx + nenv :]
        violations, gap = spacing.get(gkey, (0, None))
        rows = None
        if probe_rows is not None:
            rows = tuple(sorted(probe_rows.get(gkey, []), key=lambda p: str(p.probe_id)))
        groups.append(
            GroupSums(
                gkey=gkey,
                key=json.loads(gkey),
                criteria=criteria.get(gkey, nothing),
                sampling=SamplingSums(
                    tests=tests,
                    per_environment=per_env,
                    days=days.get(gkey, {}),
                    hours=hours.get(gkey, {}),
                    spacing_violations=violations,
                    smallest_gap_s=gap,
                ),
                used=_int(used),
                excluded=excluded,
                probes=_int(n_probes),
                first=first,
                last=last,
                probe_rows=rows,
            )
        )
    det = _details(engine, plan) if details else None
    return Sums(tuple(groups), plan.group_by, det)


def order_statistics(
    engine: Engine, plan: Plan, sums: Sums, requests: Sequence[RankRequest]
) -> dict[tuple[int, int], dict[int, float]]:
    """(group index, criterion index) -> rank -> value, for the requested ranks only."""
    out: dict[tuple[int, int], dict[int, float]] = {(r.group, r.criterion): {} for r in requests}
    if not requests:
        return out
    engine.execute(plan.groups_table_sql())
    for j in sorted({r.criterion for r in requests}):
        wanted = {
            sums.groups[r.group].gkey: (sums.groups[r.group].criteria[j].n, r.ranks)
            for r in requests
            if r.criterion == j
        }
        index = {sums.groups[r.group].gkey: r.group for r in requests if r.criterion == j}
        for (gkey, rank), value in engine.values_at_ranks(plan.values_sql(j), wanted).items():
            out[(index[gkey], j)][rank] = value
    return out


def _details(engine: Engine, plan: Plan) -> Details:
    """Data for the report's charts and appendix (never statistics). Bounded in size:
    quantile points, counts, a sample of locations, the first tests, the busiest devices."""
    d = plan.dialect
    qs = [i / (DETAIL_POINTS - 1) for i in range(DETAIL_POINTS)]
    gl = plan._group_list()
    group = f"GROUP BY {gl}metric, coalesce(under_load, FALSE)"
    rows = engine.fetch(f"""
        SELECT {plan.gkey()}, metric, coalesce(under_load, FALSE), count(*),
               {d.quantiles("value", qs)}
        FROM s WHERE _excluded IS NULL AND ok {group} ORDER BY 1, 2, 3""")
    quantiles: list[QuantileCurve] = [
        {
            "key": json.loads(g),
            "metric": m,
            "under_load": bool(u),
            "n": int(n),
            "values": [float(v) for v in vals],
        }
        for g, m, u, n, vals in rows
    ]
    tech = engine.fetch(f"""
        SELECT {plan.gkey()}, coalesce(technology, 'unknown'), count(DISTINCT test_id) FROM s
        GROUP BY {gl}coalesce(technology, 'unknown') ORDER BY 1, 2""")
    technology: list[TechnologyTests] = [
        {"key": json.loads(g), "technology": t, "tests": int(n)} for g, t, n in tech
    ]
    m = plan.dialect.literal(plan.std.sampling.metric)
    loc = engine.fetch(
        d.sample(
            f"""SELECT latitude, longitude, ok, value FROM s
            WHERE _excluded IS NULL AND metric = {m} AND latitude IS NOT NULL
              AND longitude IS NOT NULL""",
            DETAIL_LOCATIONS,
            42,
        )
    )
    locations = sorted(
        [[float(a), float(b), bool(ok), v] for a, b, ok, v in loc],
        key=lambda r: (r[0], r[1], r[3] if r[3] is not None else -1),
    )
    tests = engine.fetch(_first_tests_sql(engine, plan))
    first_tests: list[FirstTest] = [
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
    total = engine.fetch(f"""SELECT count(*) FROM (SELECT DISTINCT probe_id, test_id FROM s
        WHERE {_LISTED}) AS t""")
    tests_total = int(total[0][0]) if total else 0
    versions = engine.fetch("""SELECT tool, coalesce(tool_version, '?'), count(*) FROM s
        GROUP BY tool, coalesce(tool_version, '?') ORDER BY 1, 2""")
    tools: list[ToolSamples] = [
        {"tool": t, "version": v, "samples": int(n)} for t, v, n in versions
    ]
    labels: dict[str, list[str]] = {}
    for col in ("area", "operator"):
        values = engine.fetch(f"""SELECT DISTINCT {col} FROM s WHERE _excluded IS NULL
            AND {col} IS NOT NULL ORDER BY 1 LIMIT 50""")
        labels[col] = [str(v[0]) for v in values]
    probes: list[DeviceRow] = [
        {"probe_id": pid, "environment": env, "samples": int(n), "first": first, "last": last}
        for _, pid, n, env, first, last in engine.fetch(plan.probes_sql(DETAIL_PROBES))
    ]
    n_probes = engine.fetch(
        "SELECT count(DISTINCT probe_id) + max(CASE WHEN probe_id IS NULL THEN 1 ELSE 0 END)"
        " FROM s WHERE _excluded IS NULL"
    )
    # the keys in the order the JSON has always had them
    return {
        "quantiles": quantiles,
        "technology": technology,
        "locations": locations,
        "tests": first_tests,
        "tests_total": tests_total,
        "tools": tools,
        "areas": labels["area"],
        "operators": labels["operator"],
        "probes": probes,
        "probes_total": _int(n_probes[0][0]) if n_probes else 0,
    }
