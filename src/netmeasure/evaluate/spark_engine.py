"""The Spark engine: the evaluation's queries (plan.py) on Apache Spark, over Parquet
datasets on any Hadoop-compatible path (local files, hdfs://, s3a://, ...).

Spark SQL runs the shared SQL as written, given the few expressions SparkDialect writes
differently. Two steps are Spark's own: reading the sources (Parquet only: what a cluster
reads in parallel) and the order statistics (spark_ranks.py: exact, without sorting whole
groups). Only the small per-group tables come back to Python.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from netmeasure.errors import InputError
from netmeasure.evaluate.dialect import Dialect, quote, spark_literal
from netmeasure.evaluate.engine import SortedTimes, repeated_by_aggregate
from netmeasure.evaluate.sources import REQUIRED, Source, discover
from netmeasure.record import ALL_COLUMNS, COLUMN_TYPES, SQL_TYPES
from netmeasure.record.timetext import ISO_PATTERNS

#: ISO-8601 UTC with microseconds (Spark's datetime patterns; the session is in UTC).
ISO_SPARK: Final = ISO_PATTERNS["spark"]

_SPARK_TYPES: Final = SQL_TYPES["spark"]
_SQL_TYPES: Final = {"VARCHAR": "STRING", "BIGINT": "BIGINT", "INTEGER": "INT"}

#: A path Spark resolves through Hadoop's file systems (hdfs://, s3a://, gs://, abfss://,
#: file://); sqlite:/// and postgresql:// are collector databases, not Spark's.
_URL: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NOT_SPARK: Final = ("sqlite://", "postgresql://", "postgres://")

SPARK_READS: Final = (
    "the Spark engine reads Parquet: files, folders of them or Hive-partitioned datasets,"
    " on local, hdfs:// or s3a:// paths"
)


class SparkDialect:
    """Spark SQL's spelling of what DuckDB writes differently (dialect.Dialect)."""

    def literal(self, value: str) -> str:
        return spark_literal(value)

    def local_time(self, ts: str, timezone: str) -> str:
        return f"from_utc_timestamp({ts}, {spark_literal(timezone)})"

    def date_text(self, date: str) -> str:
        return f"date_format({date}, 'yyyy-MM-dd')"

    def iso_text(self, ts: str) -> str:
        return f"date_format({ts}, {spark_literal(ISO_SPARK)})"

    def json_object(self, fields: Sequence[tuple[str, str]]) -> str:
        if not fields:
            return "'{}'"
        pairs = ", ".join(f"{spark_literal(k)}, {v}" for k, v in fields)
        # Spark leaves NULL fields out of JSON unless told; DuckDB writes them as null.
        return f"to_json(named_struct({pairs}), map('ignoreNullFields', 'false'))"

    def epoch_us(self, ts: str) -> str:
        return f"unix_micros({ts})"

    def days_to_date(self, days: str) -> str:
        return f"date_from_unix_date(CAST({days} AS INT))"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} div {b})"

    def us_to_timestamp(self, us: str) -> str:
        return f"timestamp_micros(CAST({us} AS BIGINT))"

    def integer_series(self, first: int, last: int, step: int) -> str:
        seq = f"sequence(CAST({int(first)} AS BIGINT), CAST({int(last)} AS BIGINT), {int(step)}L)"
        return f"(SELECT explode({seq}) AS us)"

    def hash64(self, x: str) -> str:
        return f"xxhash64({x})"

    def is_nan(self, x: str) -> str:
        return f"isnan({x})"

    def h3_cell(self, lat: str, lon: str, resolution: int) -> str | None:
        return None  # no H3 function is registered in Spark

    def is_inf(self, x: str) -> str:
        return f"({x} IN (double('Infinity'), double('-Infinity')))"

    def null_safe_equal(self, a: str, b: str) -> str:
        return f"({a} <=> {b})"

    def create_temp_table(self, name: str, select: str) -> str:
        # A cached temporary view: computed once, kept in executors' memory (spilling to
        # disk), and read by the later queries. SparkEngine.execute replaces an old one.
        return f"CACHE TABLE {quote(name)} AS {select}"

    def create_temp_view(self, name: str, select: str) -> str:
        return f"CREATE OR REPLACE TEMPORARY VIEW {quote(name)} AS {select}"

    def quantiles(self, x: str, qs: Sequence[float]) -> str:
        # Spark's percentile is exact and interpolates as type 7. It holds each group's
        # distinct values in one task: fine for the report's charts up to tens of millions
        # of samples per group (docs/spark.md); the verdicts' order statistics never use it.
        return f"percentile({x}, array({', '.join(repr(q) for q in qs)}))"

    def ordered_list(self, x: str, key: str) -> str:
        return f"transform(array_sort(collect_list(named_struct('k', {key}, 'v', {x}))), e -> e.v)"

    def sample(self, select: str, rows: int, seed: int) -> str:
        # The top rows by a seeded random key: each task keeps that many, not a global sort.
        return f"SELECT * FROM ({select}) AS _s ORDER BY rand({int(seed)}) LIMIT {int(rows)}"


_CACHE: Final = re.compile(r'^\s*CACHE TABLE ("(?:[^"]|"")+")')


def spark_sources(paths: Sequence[str]) -> tuple[Source, ...]:
    """The sources as evaluate lists them; local ones exactly as the default engine finds
    them (so the result's ``sources`` are the same), remote datasets by their URL."""
    out: list[Source] = []
    for i, text in enumerate(paths):
        if _URL.match(text) and not text.startswith(_NOT_SPARK):
            out.append(Source(Path(text), "parquet-dataset", i, url=text))
            continue
        for src in discover([text]):
            if src.kind not in ("parquet", "parquet-dataset"):
                raise InputError(
                    f"{src.name}: {SPARK_READS}; this is {src.kind}",
                    hint="convert it with 'netmeasure samples export --format parquet' (a"
                    " store) or evaluate it with the default engine (--engine duckdb)",
                )
            out.append(Source(src.path, src.kind, i, src.url))
    return tuple(out)


class SparkEngine:
    """The evaluation's queries on a SparkSession (spark_session.spark_session)."""

    def __init__(
        self, paths: Sequence[str], session: Any, *, sort_limit: int | None = None
    ) -> None:
        #: Groups (and pieces of them) of at most this many values are sorted for their
        #: order statistics; larger ones are cut at pivots first (spark_ranks.py).
        self.sort_limit = sort_limit
        self.dialect: Dialect = SparkDialect()
        self.sources = spark_sources(paths)
        if not self.sources:
            raise InputError("no sources given")
        self.spark = session
        frames = []
        for argument in sorted({s.argument for s in self.sources}):
            group = [s for s in self.sources if s.argument == argument]
            frames.append(self._read(group, argument))
        raw = frames[0]
        for f in frames[1:]:
            raw = raw.unionByName(f)
        raw.createOrReplaceTempView("raw_samples")

    def _names(self) -> str:
        return ", ".join(s.name for s in self.sources)

    def _read(self, sources: list[Source], argument: int) -> Any:
        """One command-line source (a file, a folder's files, a dataset) as the sample
        record's typed columns; a value that does not cast is NULL (an invalid value)."""
        from pyspark.sql import functions as F

        name = ", ".join(s.name for s in sources)
        reader = self.spark.read.option("mergeSchema", "true")
        paths = [s.url or str(s.path) for s in sources]
        if len(sources) == 1 and sources[0].kind == "parquet-dataset":
            reader = reader.option("basePath", paths[0])
        try:
            frame = reader.parquet(*paths)
            present = set(frame.columns)
        except Exception as exc:
            raise InputError(f"{name}: cannot read as parquet: {_first_line(exc)}") from exc
        missing = [c for c in REQUIRED if c not in present]
        if missing:
            raise InputError(
                f"{name}: missing column {missing[0]!r} (the sample record needs"
                f" {', '.join(REQUIRED)}; see docs/data-format.md)"
            )
        cols = []
        for col in ALL_COLUMNS:
            typ = _SPARK_TYPES[COLUMN_TYPES[col]]
            if col in present:
                cols.append(F.expr(f"try_cast(`{col}` AS {typ})").alias(col))
            else:
                cols.append(F.lit(None).cast(typ).alias(col))
        cols.append(F.lit(argument).cast("INT").alias("_source"))
        return frame.select(*cols)

    def _wrap(self, exc: Exception) -> InputError:
        return InputError(f"{self._names()}: cannot evaluate: {_first_line(exc)}")

    def execute(self, sql: str) -> None:
        cache = _CACHE.match(sql)
        try:
            if cache:
                name = cache.group(1)
                self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
                self.spark.sql(f"DROP VIEW IF EXISTS {name}")
            t0 = time.perf_counter()
            self.spark.sql(sql)
            if os.environ.get("NETMEASURE_SPARK_TRACE"):
                _trace(sql, t0)
        except Exception as exc:
            raise self._wrap(exc) from exc

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            t0 = time.perf_counter()
            rows = [tuple(row) for row in self.spark.sql(sql).collect()]
            if os.environ.get("NETMEASURE_SPARK_TRACE"):
                _trace(sql, t0)
            return rows
        except Exception as exc:
            raise self._wrap(exc) from exc

    def insert_rows(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        schema = ", ".join(f"`{n}` {_SQL_TYPES[t]}" for n, t in columns)
        try:
            self.spark.createDataFrame(list(rows), schema).createOrReplaceTempView(table)
        except Exception as exc:
            raise self._wrap(exc) from exc

    def repeated_hashes(self, hashes_sql: str, rows: int) -> str:
        return repeated_by_aggregate(hashes_sql)

    def spacing(self, by_window: str, by_sort: SortedTimes) -> list[tuple[Any, ...]]:
        return self.fetch(by_window)

    def values_at_ranks(
        self, values_sql: str, wanted: Mapping[str, tuple[int, Iterable[int]]]
    ) -> dict[tuple[str, int], float]:
        """Exact order statistics (spark_ranks.py); ``values_sql`` yields (g, value)."""
        from netmeasure.evaluate.spark_ranks import values_at_ranks

        try:
            frame = self.spark.sql(values_sql).toDF("g", "value")
            if self.sort_limit is None:
                return dict(values_at_ranks(frame, wanted).values)
            return dict(values_at_ranks(frame, wanted, sort_limit=self.sort_limit).values)
        except InputError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc

    def close(self) -> None:
        """Drop the cached tables and views of this evaluation; the session stays for the
        process (a JVM is slow to start, and tests share one). A cached table left behind
        would be re-planned against the next evaluation's views of the same name."""
        try:
            self.spark.catalog.clearCache()
            for table in self.spark.catalog.listTables():
                if table.isTemporary:
                    self.spark.catalog.dropTempView(table.name)
        except Exception:  # closing must not hide the evaluation's own error
            return


def _trace(sql: str, t0: float) -> None:
    import sys

    sys.stderr.write(f"spark {time.perf_counter() - t0:7.2f} s  {' '.join(sql.split())[:90]}\n")


def _first_line(exc: BaseException) -> str:
    """Spark's own message: the first line, past Py4J's "An error occurred while calling"."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].startswith("An error occurred while calling"):
        lines = lines[1:]
    text = lines[0].lstrip(": ") if lines else type(exc).__name__
    return re.sub(r"^(?:[\w.$]+(?:Exception|Error): )+", "", text)
