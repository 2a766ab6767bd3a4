"""Engines: where the evaluation's SQL runs. DuckDB (embedded, the default) is here.

An engine provides (docs/evaluate.md, "What an engine provides"):

- the view ``raw_samples``: every row of every source with the sample record's columns and
  types (docs/contracts.md §1) and ``_source``, the index of the source file it came from;
- a Dialect (dialect.py) for the expressions engines write differently;
- ``execute`` (a statement), ``fetch`` (a query's rows as tuples), ``insert_rows`` (a small
  temporary table from Python), ``close``; an engine error while reading data becomes an
  InputError naming the sources.

It keeps no state between calls but its connection and the temporary tables the plan makes.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from netmeasure.errors import InputError, pip_install
from netmeasure.evaluate.dialect import H3_FUNCTION, Dialect, DuckDBDialect, quote
from netmeasure.evaluate.sources import Source, discover, parquet_files_sql, relation_sql

#: What --memory-limit accepts: a number and a unit (DuckDB's units).
_MEMORY: Final = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)


def _arrow_type(sql_type: str) -> Any:
    import pyarrow as pa

    return pa.string() if sql_type == "VARCHAR" else pa.int64()


@dataclass(frozen=True)
class SortedTimes:
    """The spacing check as one sort (Engine.spacing). ``setup``: the statements that
    number the devices and the groups; ``groups_sql``: each group's number (0, 1, ...)
    and key, as rows; ``times_sql``: every sampling test's device number ``_p``, time in
    microseconds ``_us`` and group number ``_g``, sorted by device and time;
    ``below_s``: the least spacing the standard asks for."""

    setup: tuple[str, ...]
    groups_sql: str
    times_sql: str
    below_s: float


class Engine(Protocol):
    dialect: Dialect
    sources: tuple[Source, ...]

    def execute(self, sql: str) -> None: ...

    def fetch(self, sql: str) -> list[tuple[Any, ...]]: ...

    def insert_rows(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """(Re)create the temporary table ``table`` with ``columns`` (name, SQL type:
        VARCHAR, BIGINT, INTEGER) holding ``rows``."""
        ...

    def repeated_hashes(self, hashes_sql: str, rows: int) -> str:
        """A relation (column ``_h``) of the values that ``hashes_sql``'s column ``_h``
        holds more than once (it yields at most ``rows`` rows): the duplicate check's
        costliest step (repeated_by_aggregate, or faster where the engine can)."""
        ...

    def values_at_ranks(
        self, values_sql: str, wanted: Mapping[str, tuple[int, Iterable[int]]]
    ) -> dict[tuple[str, int], float]:
        """The exact order statistics: for each group g of ``wanted`` (its number of values
        n, the 1-based ranks wanted), the value at each rank of the sorted values that
        ``values_sql`` yields as (g, value) rows."""
        ...

    def spacing(self, by_window: str, by_sort: SortedTimes) -> list[tuple[Any, ...]]:
        """Per group (its key), the gaps between a device's consecutive sampling tests
        shorter than the least spacing, and the shortest gap in seconds (None without
        one), each gap in the later test's group: the rows of ``by_window`` (one window
        over the devices' times), or the same from ``by_sort`` where the engine can."""
        ...

    def close(self) -> None: ...


def check_memory_limit(value: str) -> str:
    if not _MEMORY.match(value):
        raise InputError(
            f"--memory-limit {value!r}: expected a number and a unit, e.g. 1GB, 512MB, 2GiB"
        )
    return value.strip()


_UNITS: Final = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def memory_bytes(value: str) -> int:
    """A --memory-limit (check_memory_limit's form) in bytes: KB = 1000 bytes, KiB = 1024
    (DuckDB's reading)."""
    m = _MEMORY.match(value)
    assert m is not None, value
    unit = m.group(2).lower()
    scale = 1024 ** (1 + "kmgt".index(unit[0])) if unit.endswith("ib") else _UNITS[unit]
    return int(float(value[: m.start(2)]) * scale)


class DuckDBEngine:
    """DuckDB in this process. Memory is bounded by ``memory_limit``; what does not fit
    spills to ``temp_directory`` (default: a private folder in the system's temporary
    folder)."""

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
            raise InputError(f"evaluate needs duckdb: {pip_install('analysis')}") from exc
        self._duckdb = duckdb
        self._h3 = False
        self.dialect: Dialect = DuckDBDialect()
        self.sources: tuple[Source, ...] = tuple(discover(paths))
        if not self.sources:
            raise InputError("no sources given")
        config: dict[str, Any] = {"memory_limit": check_memory_limit(memory_limit)}
        self._memory_bytes = memory_bytes(config["memory_limit"])
        # A private folder (in --temp-directory, or the system's temporary folder; DuckDB's
        # own default, ./.tmp, is the caller's folder) holds the spill files (operators'
        # and the TEMP tables' blocks evicted under --memory-limit: dialect.py) and the
        # database file, removed on close.
        try:
            if temp_directory:
                Path(temp_directory).mkdir(parents=True, exist_ok=True)
            self._own_temp: str | None = tempfile.mkdtemp(
                prefix="netmeasure-duckdb-", dir=temp_directory or None
            )
        except OSError as exc:
            raise InputError(
                f"--temp-directory {temp_directory or tempfile.gettempdir()}: cannot create a"
                f" folder there: {exc.strerror or exc}"
            ) from exc
        config["temp_directory"] = self._own_temp
        try:
            self.con = duckdb.connect(str(Path(self._own_temp) / "evaluate.duckdb"), config=config)
        except duckdb.Error as exc:
            self._remove_temp()
            raise InputError(f"cannot start DuckDB: {_first_line(exc)}") from exc
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            # DuckDB draws a progress bar on stdout for queries over 2 s: it would corrupt
            # `evaluate --json` (and any caller's stdout).
            self.con.execute("SET enable_progress_bar = false")
            # Order is not needed anywhere (every result is sorted or keyed): let DuckDB
            # stream and spill without keeping insertion order.
            self.con.execute("SET preserve_insertion_order = false")
            # DuckDB's type_pushdown makes a CSV reader parse a column as the type a
            # TRY_CAST of it asks for, and then a bad value ("yesterday" as started_at)
            # fails the whole query where TRY_CAST gives NULL (an invalid_value exclusion).
            # Seen with DuckDB 2.0 on `SELECT min(epoch_us(started_at)) FROM raw_samples`.
            self.con.execute("SET disabled_optimizers = 'type_pushdown'")
            if not threads and os.environ.get("SOURCE_DATE_EPOCH"):
                # Reproducible output asked for (reproducible-builds.org): parallel sums of
                # doubles differ in the last bit from run to run, and the report prints them
                # in full; one thread sums in one order.
                threads = 1
            if threads:
                self.con.execute(f"SET threads = {int(threads)}")
            self.con.execute("CREATE TEMP VIEW raw_samples AS " + " UNION ALL ".join(self._parts()))
        except BaseException:
            self.close()
            raise

    def _parts(self) -> list[str]:
        """A SELECT per source, the Parquet files of one command-line source (a folder's)
        read together."""
        parts = []
        runs = itertools.groupby(
            enumerate(self.sources), key=lambda e: (e[1].kind == "parquet", e[1].argument)
        )
        for (parquet, _), run in runs:
            run_list = list(run)
            if parquet and len(run_list) > 1:
                parts.append(parquet_files_sql(self.con, [src for _, src in run_list]))
            else:
                parts += [relation_sql(self.con, src, i) for i, src in run_list]
        return parts

    def _names(self) -> str:
        return ", ".join(s.name for s in self.sources)

    def _wrap(self, exc: Exception) -> InputError:
        text = _first_line(exc)
        if isinstance(exc, self._duckdb.OutOfMemoryException):
            return InputError(
                f"{self._names()}: out of memory: {text}",
                hint="raise --memory-limit, or give --temp-directory on a disk with free space",
            )
        return InputError(f"{self._names()}: cannot evaluate: {text}")

    def execute(self, sql: str) -> None:
        self._register_used(sql)
        try:
            self.con.execute(sql)
        except self._duckdb.Error as exc:
            raise self._wrap(exc) from exc

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        self._register_used(sql)
        try:
            return self.con.execute(sql).fetchall()
        except self._duckdb.Error as exc:
            raise self._wrap(exc) from exc

    def _register_used(self, sql: str) -> None:
        """The H3 function, registered when a statement first calls it: registering a
        Python function imports numpy, which an evaluation without H3 groups needs only
        later, when the statistics' thread has loaded it."""
        if not self._h3 and H3_FUNCTION in sql:
            register_h3(self.con)
            self._h3 = True

    def insert_rows(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        cols = ", ".join(f"{quote(n)} {t}" for n, t in columns)
        self.execute(f"CREATE OR REPLACE TEMP TABLE {quote(table)} ({cols})")
        if rows:
            import pyarrow as pa

            arrays = {
                n: pa.array(
                    [r[i] for r in rows], type=pa.string() if t == "VARCHAR" else pa.int64()
                )
                for i, (n, t) in enumerate(columns)
            }
            self.con.register("_insert_rows", pa.table(arrays))
            try:
                self.execute(f"INSERT INTO {quote(table)} SELECT * FROM _insert_rows")
            finally:
                self.con.unregister("_insert_rows")

    def repeated_hashes(self, hashes_sql: str, rows: int) -> str:
        """While two 8-byte copies of every hash fit in half the memory limit (31 million
        rows at 1 GB), by sorting the hashes in numpy (repeated_values): a sort of fixed-size
        keys in memory, where DuckDB's aggregate builds a hash table that misses the caches
        (analysis/evaluate_bench.py compares them). Beyond that, the aggregate, which spills
        to disk."""
        if rows * 16 > self._memory_bytes // 2:
            return repeated_by_aggregate(hashes_sql)
        import numpy as np

        try:
            hashes = np.asarray(self.con.execute(hashes_sql).fetchnumpy()["_h"])
        except self._duckdb.Error as exc:
            raise self._wrap(exc) from exc
        repeated = repeated_values(hashes)
        del hashes
        if len(repeated) <= REPEATED_AS_PARAMETER:
            # A query parameter: registering an Arrow table makes DuckDB import pandas (to
            # check the object against pandas' types), and there are usually none.
            try:
                self.con.execute(
                    "CREATE OR REPLACE TEMP TABLE _repeated AS"
                    " SELECT unnest(CAST($1 AS UBIGINT[])) AS _h",
                    [repeated.tolist()],
                )
            except self._duckdb.Error as exc:
                raise self._wrap(exc) from exc
            return "_repeated"
        import pyarrow as pa

        self.con.register("_repeated_arrow", pa.table({"_h": pa.array(repeated, pa.uint64())}))
        try:
            self.execute("CREATE OR REPLACE TEMP TABLE _repeated AS SELECT _h FROM _repeated_arrow")
        finally:
            self.con.unregister("_repeated_arrow")
        return "_repeated"

    def values_at_ranks(
        self, values_sql: str, wanted: Mapping[str, tuple[int, Iterable[int]]]
    ) -> dict[tuple[str, int], float]:
        return sorted_ranks(self, values_sql, wanted)

    def spacing(self, by_window: str, by_sort: SortedTimes) -> list[tuple[Any, ...]]:
        """By one sort on (device number, time), streamed to numpy in batches, where the
        window over the devices' ids carries the texts of the ids and groups through its
        sort. Memory stays bounded: DuckDB's sort spills to disk, numpy holds one batch."""
        for sql in by_sort.setup:
            self.execute(sql)
        keys = dict(self.fetch(by_sort.groups_sql))
        try:
            # a relation's reader keeps the ORDER BY's order; one of an executed
            # statement's result (con.execute(...).to_arrow_reader) did not (DuckDB 2.0)
            batches = self.con.sql(by_sort.times_sql).to_arrow_reader(_SPACING_BATCH_ROWS)
            shortest = gaps_in_order(
                (tuple(int64_view(b.column(i)) for i in range(3)) for b in batches),
                len(keys),
                by_sort.below_s,
            )
        except self._duckdb.Error as exc:
            raise self._wrap(exc) from exc
        except OverflowError as exc:
            raise InputError(f"{self._names()}: started_at: {exc}: no gap to measure") from exc
        return [(keys[g], below, gap) for g, (below, gap) in enumerate(shortest)]

    def close(self) -> None:
        self.con.close()
        self._remove_temp()

    def _remove_temp(self) -> None:
        if self._own_temp:
            shutil.rmtree(self._own_temp, ignore_errors=True)


def register_h3(con: Any) -> None:
    """``nm_h3(lat, lon, resolution)``: the H3 cell of a point as hex text (NULL without a
    valid point), vectorised over Arrow batches; the h3 package is imported on first use."""
    import duckdb

    double, integer, varchar = (duckdb.sqltype(n) for n in ("DOUBLE", "INTEGER", "VARCHAR"))

    def cells(lat: Any, lon: Any, res: Any) -> Any:
        import h3
        import pyarrow as pa

        out = []
        for a, b, r in zip(lat.to_pylist(), lon.to_pylist(), res.to_pylist(), strict=True):
            try:
                out.append(None if a is None or b is None else h3.latlng_to_cell(a, b, r))
            except (ValueError, h3.H3BaseException):  # out of range, NaN
                out.append(None)
        return pa.array(out, type=pa.string())

    con.create_function(
        H3_FUNCTION,
        cells,
        [double, double, integer],
        varchar,
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


#: Up to this many repeated hashes pass to DuckDB as one query parameter, more as a
#: registered Arrow table (a parameter's list is copied value by value).
REPEATED_AS_PARAMETER: Final = 100_000


def repeated_values(values: Any) -> Any:
    """The values (a numpy uint64 array, sorted here in place) seen more than once, each
    once. Above a million values, the two halves of the value range are sorted in two
    threads (numpy releases the GIL while it sorts), so two cores sort at once."""
    import numpy as np

    def repeated_in(part: Any) -> Any:
        part.sort()
        same = part[1:] == part[:-1]
        return np.unique(part[1:][same])

    if len(values) <= 1_000_000:
        return repeated_in(values)
    from concurrent.futures import ThreadPoolExecutor

    high = values >= np.uint64(2**63)
    upper, lower = values[high], values[~high]
    with ThreadPoolExecutor(max_workers=1) as pool:
        upper_repeated = pool.submit(repeated_in, upper)
        return np.concatenate([repeated_in(lower), upper_repeated.result()])


#: The rows of one batch of the spacing's sorted times (DuckDB returns 122,880 a batch).
_SPACING_BATCH_ROWS: Final = 1_000_000


def int64_view(column: Any) -> Any:
    """An Arrow int64 column without nulls as a numpy array over its buffer (pyarrow's
    Array.to_numpy imports pandas, a cost on every command that has no other use for it)."""
    import numpy as np

    assert str(column.type) == "int64" and column.null_count == 0, column.type
    values = np.frombuffer(column.buffers()[1], dtype=np.int64, count=column.offset + len(column))
    return values[column.offset :]


def gaps_in_order(
    batches: Iterable[tuple[Any, Any, Any]], groups: int, below_s: float
) -> list[tuple[int, float | None]]:
    """Per group number: the gaps shorter than ``below_s`` and the shortest gap in
    seconds (None without one), from numpy batches (device number, time in microseconds,
    group number) of rows sorted by device and time; a gap between consecutive rows of
    one device counts in the later row's group. A gap is the window's (plan.spacing_sql):
    the difference in microseconds divided by 1e6, in doubles. OverflowError where a
    difference exceeds 64 bits (the window's subtraction fails there too)."""
    import numpy as np

    below = np.zeros(groups, dtype=np.int64)
    shortest = np.full(groups, np.inf)
    last: tuple[Any, Any] | None = None
    for device, us, group in batches:
        if len(device) == 0:
            continue
        if last is not None:  # the gap across the batches' boundary
            device = np.concatenate([[last[0]], device])
            us = np.concatenate([[last[1]], us])
            group = np.concatenate([[0], group])
        same = device[1:] == device[:-1]
        steps = (us[1:] - us[:-1])[same]
        if len(steps) and steps.min() < 0:
            # sorted times step back only where the difference wrapped around 2**63 µs
            raise OverflowError("two times of one device more than 292,000 years apart")
        gap_s = steps / 1e6
        later = group[1:][same]
        below += np.bincount(later[gap_s < below_s], minlength=groups)
        np.minimum.at(shortest, later, gap_s)
        last = (device[-1], us[-1])
    return [
        (int(n), None if math.isinf(gap) else float(gap))
        for n, gap in zip(below, shortest, strict=True)
    ]


def repeated_by_aggregate(hashes_sql: str) -> str:
    """Engine.repeated_hashes by one aggregate (every engine's SQL; it spills to disk
    within the memory limit)."""
    return f"(SELECT _h FROM ({hashes_sql}) AS a GROUP BY _h HAVING count(*) > 1) AS t"


def sorted_ranks(
    engine: Engine, values_sql: str, wanted: Mapping[str, tuple[int, Iterable[int]]]
) -> dict[tuple[str, int], float]:
    """Engine.values_at_ranks by one window per group, keeping only the wanted ranks (DuckDB
    sorts each group, spilling to disk beyond its memory limit)."""
    rows = [(g, r) for g, (_, ranks) in wanted.items() for r in sorted(set(ranks))]
    engine.insert_rows("_want", [("g", "VARCHAR"), ("r", "BIGINT")], rows)
    found = engine.fetch(f"""
        SELECT w.g, w.r, w.value FROM (
          SELECT g, value, row_number() OVER (PARTITION BY g ORDER BY value) AS r
          FROM ({values_sql}) AS v WHERE g IN (SELECT g FROM _want)) AS w
        JOIN _want AS k ON k.g = w.g AND k.r = w.r""")
    return {(g, int(r)): float(v) for g, r, v in found}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
