"""Sources evaluate reads: sample stores (.db), Parquet (files or Hive-partitioned folders),
CSV and JSONL in the sample-record layout (docs/contracts.md §1), or folders of them.

Every source becomes a DuckDB relation with the contract's columns and types; a column the
file lacks is NULL, a value that does not cast is NULL (and later counted as
``invalid_value``), never silently dropped.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from netmeasure.databases import (
    COLLECTOR_APPLICATION_ID,
    STORE_APPLICATION_ID,
    sqlite_application_id,
)
from netmeasure.databases import redact as _redact
from netmeasure.errors import InputError, not_a_regular_file, pip_install
from netmeasure.record import ALL_COLUMNS, COLUMN_TYPES, SQL_TYPES, SQLITE_STRICT_READ, arrow_schema
from netmeasure.record.timetext import ISO_PATTERNS

SQLITE_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3")
PARQUET_SUFFIXES: Final = (".parquet", ".pq")
CSV_SUFFIXES: Final = (".csv",)
JSONL_SUFFIXES: Final = (".jsonl", ".ndjson")
ALL_SUFFIXES: Final = SQLITE_SUFFIXES + PARQUET_SUFFIXES + CSV_SUFFIXES + JSONL_SUFFIXES

#: Columns without which a row cannot be evaluated at all.
REQUIRED: Final = ("started_at", "metric", "value", "ok")

_DUCK_TYPES: Final = SQL_TYPES["duckdb"]


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    kind: str  # sqlite | collector | parquet | parquet-dataset | csv | jsonl
    argument: int = 0  # which command-line source it came from (a folder's files share one)
    url: str | None = None  # a collector database (postgresql://..., sqlite:///...)

    @property
    def name(self) -> str:
        return _redact(self.url) if self.url else str(self.path)


def discover(paths: list[str]) -> list[Source]:
    """Expand folders; a folder with ``key=value`` subfolders is one Hive-partitioned dataset."""
    out: list[Source] = []
    for i, text in enumerate(paths):
        if text.startswith("sqlite:///"):
            out.append(Source(Path(text[len("sqlite:///") :]), "collector", i, url=text))
            continue
        if text.startswith(("postgresql://", "postgres://")):
            out.append(Source(Path("postgresql"), "collector", i, url=text))
            continue
        p = Path(text)
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if p.is_dir():
            if any(child.is_dir() and "=" in child.name for child in p.iterdir()):
                out.append(Source(p, "parquet-dataset", i))
                continue
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in ALL_SUFFIXES
            )
            if not found:
                raise InputError(f"{p}: folder holds no sample files ({', '.join(ALL_SUFFIXES)})")
            out.extend(_kind(f, i) for f in found)
        elif not p.is_file():
            raise not_a_regular_file(p)
        else:
            out.append(_kind(p, i))
    return out


def _kind(p: Path, argument: int) -> Source:
    suffix = p.suffix.lower()
    if suffix in SQLITE_SUFFIXES and _is_collector_db(p):
        return Source(p, "collector", argument, url=f"sqlite:///{p}")
    for suffixes, kind in (
        (SQLITE_SUFFIXES, "sqlite"),
        (PARQUET_SUFFIXES, "parquet"),
        (CSV_SUFFIXES, "csv"),
        (JSONL_SUFFIXES, "jsonl"),
    ):
        if suffix in suffixes:
            return Source(p, kind, argument)
    raise InputError(f"{p}: unknown kind of file (expected {', '.join(ALL_SUFFIXES)})")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed_projection(present: set[str], argument: int) -> str:
    cols = []
    for name in ALL_COLUMNS:
        duck = _DUCK_TYPES[COLUMN_TYPES[name]]
        if name in present:
            cols.append(f'TRY_CAST("{name}" AS {duck}) AS "{name}"')
        else:
            cols.append(f'CAST(NULL AS {duck}) AS "{name}"')
    cols.append(f"{int(argument)} AS _source")
    return ", ".join(cols)


def relation_sql(con: Any, src: Source, index: int) -> str:
    """Register ``src`` with DuckDB and return a SELECT giving the contract's typed columns."""
    import duckdb

    path = src.name
    try:
        if src.kind in ("sqlite", "collector"):
            view = f"_src{index}"
            _register_rows(con, src, view)
            reader = view
        elif src.kind == "parquet":
            reader = f"read_parquet({_sql_str(path)})"
        elif src.kind == "parquet-dataset":
            glob = str(src.path / "**" / "*.parquet")
            reader = (
                f"read_parquet({_sql_str(glob)}, hive_partitioning = true, union_by_name = true)"
            )
        elif src.kind == "csv":
            reader = (
                f"read_csv({_sql_str(path)}, header = true, all_varchar = true, auto_detect = true)"
            )
        else:
            reader = (
                f"read_json({_sql_str(path)}, format = 'newline_delimited',"
                " maximum_object_size = 16777216, sample_size = -1)"
            )
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot read as {src.kind}: {_short(exc)}") from exc
    present = {row[0] for row in described}
    _check_required(path, present)
    _check_time_type(path, described)
    return f"SELECT {_typed_projection(present, src.argument)} FROM {reader}"


def _check_required(name: str, columns: set[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputError(
            f"{name}: missing column {missing[0]!r} (the sample record needs"
            f" {', '.join(REQUIRED)}; see docs/data-format.md)"
        )


#: DuckDB's numeric types: a started_at stored as one is a count of something (seconds?
#: milliseconds? a row number?), read the same way nowhere; refused, naming the column.
_NUMERIC: Final = re.compile(
    r"(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|REAL|DECIMAL.*)", re.IGNORECASE
)


def _check_time_type(name: str, described: Sequence[Sequence[Any]]) -> None:
    for row in described:
        if row[0] == "started_at" and _NUMERIC.fullmatch(str(row[1])):
            raise InputError(
                f"{name}: column 'started_at' holds numbers ({row[1]}), not times",
                hint="the sample record's started_at is a UTC timestamp or ISO-8601 text"
                " (docs/data-format.md); convert the numbers, naming their unit",
            )


def parquet_files_sql(con: Any, srcs: Sequence[Source]) -> str:
    """One SELECT over Parquet files of one command-line source (a folder's files): one
    reader for all of them, whose aggregates spill to disk within the memory limit where a
    UNION ALL of one reader per file ran out of memory (100 files of 1 M samples at 1 GB).
    Each file is checked for the required columns first, so that an error names it."""
    import duckdb

    schemas = []
    for src in srcs:
        try:
            described = con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({_sql_str(src.name)})"
            ).fetchall()
        except duckdb.Error as exc:
            raise InputError(f"{src.name}: cannot read as parquet: {_short(exc)}") from exc
        present = tuple(row[:2] for row in described)
        _check_required(src.name, {name for name, _ in present})
        _check_time_type(src.name, described)
        schemas.append(present)
    files = ", ".join(_sql_str(src.name) for src in srcs)
    # the same columns and types in every file (the usual case) need no reconciling
    union = "" if len(set(schemas)) == 1 else ", union_by_name = true"
    every = {name for schema in schemas for name, _ in schema}
    reader = f"read_parquet([{files}]{union})"
    return f"SELECT {_typed_projection(every, srcs[0].argument)} FROM {reader}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_collector_db(path: Path) -> bool:
    return sqlite_application_id(path) == COLLECTOR_APPLICATION_ID


def _register_rows(con: Any, src: Source, view: str) -> None:
    """A probe's store or a collector's database, read in batches into a DuckDB table.

    Read-only and as given: never migrated, no journal mode changed, nothing checkpointed,
    so that the SHA-256 printed is the file's and a store on read-only media can be read.
    DuckDB's SQLite and PostgreSQL scanners are extensions that would be downloaded at run
    time; large datasets travel as Parquet (`collector export`).
    """
    import pyarrow as pa

    if src.url and not src.url.startswith("sqlite:///"):
        batches = _postgres_batches(src.url)
    else:
        batches = _sqlite_batches(src.path)
    # Times stay text here: relation_sql casts them (a time that does not parse becomes
    # NULL and is counted as invalid_value, as in a CSV).
    schema = arrow_schema(time_as_text=True)
    table = pa.Table.from_batches(
        [pa.RecordBatch.from_arrays(b, schema=schema) for b in batches], schema=schema
    )
    con.register(f"{view}_table", table)
    con.execute(f'CREATE TEMP TABLE "{view}" AS SELECT * FROM "{view}_table"')
    con.unregister(f"{view}_table")


_BATCH: Final = 50_000


def _columns_of(rows: list[tuple[Any, ...]]) -> list[Any]:
    import pyarrow as pa

    cols = list(zip(*rows, strict=True)) if rows else [() for _ in ALL_COLUMNS]
    schema = arrow_schema(time_as_text=True)
    out = []
    for name, values in zip(ALL_COLUMNS, cols, strict=True):
        if COLUMN_TYPES[name] == "bool":
            values = tuple(None if v is None else bool(v) for v in values)
        out.append(pa.array(values, type=schema.field(name).type))
    return out


def open_sqlite_readonly(path: Path, scratch: Path) -> sqlite3.Connection:
    """The SQLite file at ``path``, read-only, without writing anything beside it.

    Without a write-ahead log or journal beside it (a store no process has open), the file
    is opened immutable: no lock, no -shm file, read as it is (also on read-only media).
    With one, a writer may be active: read-only through SQLite's locks (mode=ro). Where
    that cannot be done (read-only media without the -shm file), the store and its log are
    copied to ``scratch`` and read there, so that the samples in the log are not lost.
    """
    target = path.resolve()
    sidecars = [Path(f"{target}-wal"), Path(f"{target}-journal")]
    live = any(p.exists() and p.stat().st_size > 0 for p in sidecars)
    try:
        if not live:
            return sqlite3.connect(f"{_uri(target)}?immutable=1", uri=True)
        try:
            db = sqlite3.connect(f"{_uri(target)}?mode=ro", uri=True)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            copy = scratch / target.name
            shutil.copyfile(target, copy)
            for side in sidecars:
                if side.exists():
                    shutil.copyfile(side, Path(f"{copy}{side.name[len(target.name) :]}"))
            db = sqlite3.connect(f"{_uri(copy)}?mode=ro", uri=True)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
    except (sqlite3.Error, OSError) as exc:
        raise InputError(f"{path}: cannot open the store read-only: {exc}") from exc


def _uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(path))


def _sqlite_batches(path: Path) -> Iterator[list[Any]]:
    from netmeasure.store import SCHEMA_VERSION

    scratch = tempfile.TemporaryDirectory(prefix="netmeasure-store-")
    db = open_sqlite_readonly(path, Path(scratch.name))
    try:
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if app_id not in (STORE_APPLICATION_ID, COLLECTOR_APPLICATION_ID):
                raise InputError(f"{path}: not a netmeasure sample store (another SQLite file)")
            if app_id == STORE_APPLICATION_ID and version > SCHEMA_VERSION:
                raise InputError(
                    f"{path}: store schema version {version} is newer than this netmeasure"
                    f" understands ({SCHEMA_VERSION})",
                    hint="upgrade netmeasure to read this store",
                )
            present = {r[1] for r in db.execute("PRAGMA table_info(samples)")}
            missing = [c for c in ALL_COLUMNS if c not in present]
            if missing:
                raise InputError(f"{path}: the samples table has no column {missing[0]!r}")
            select = ", ".join(SQLITE_STRICT_READ[COLUMN_TYPES[c]].format(c=c) for c in ALL_COLUMNS)
            cur = db.execute(f"SELECT {select} FROM samples")
            batches = []
            while rows := cur.fetchmany(_BATCH):
                batches.append(_columns_of(rows))
            return iter(batches)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise InputError(
                f"{path}: cannot read the store: {exc}",
                hint=f"a damaged store: `sqlite3 {path} .recover` may save its samples",
            ) from exc
    finally:
        db.close()
        scratch.cleanup()


def _postgres_batches(url: str) -> Iterator[list[Any]]:
    """A collector's PostgreSQL database, in a read-only transaction."""
    try:
        import psycopg
    except ImportError as exc:
        raise InputError(f"PostgreSQL needs psycopg: {pip_install('collector')}") from exc
    cols = ", ".join(
        f"to_char({c} AT TIME ZONE 'UTC', '{ISO_PATTERNS['postgresql']}')"
        if COLUMN_TYPES[c] == "ts"
        else c
        for c in ALL_COLUMNS
    )
    batches = []
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.read_only = True
            with conn.cursor(name="evaluate") as cur:
                cur.itersize = _BATCH
                cur.execute(f"SELECT {cols} FROM samples")
                while rows := cur.fetchmany(_BATCH):
                    batches.append(_columns_of(rows))
    except psycopg.Error as exc:
        raise InputError(f"{_redact(url)}: cannot read: {_short(exc)}") from exc
    return iter(batches)
