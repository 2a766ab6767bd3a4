"""Sources evaluate reads: sample stores (.db), Parquet (files or Hive-partitioned folders),
CSV and JSONL in the sample-record layout (contracts.md §1), or folders of them.

Every source becomes a DuckDB relation with the contract's columns and types; a column the
file lacks is NULL, a value that does not cast is NULL (and later counted as
``invalid_value``), never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from netmeasure.errors import InputError
from netmeasure.samples import ALL_COLUMNS, COLUMN_TYPES

SQLITE_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3")
PARQUET_SUFFIXES: Final = (".parquet", ".pq")
CSV_SUFFIXES: Final = (".csv",)
JSONL_SUFFIXES: Final = (".jsonl", ".ndjson")
ALL_SUFFIXES: Final = SQLITE_SUFFIXES + PARQUET_SUFFIXES + CSV_SUFFIXES + JSONL_SUFFIXES

#: Columns without which a row cannot be evaluated at all.
REQUIRED: Final = ("started_at", "metric", "value", "ok")

_DUCK_TYPES: Final = {
    "str": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
}


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
    missing = [c for c in REQUIRED if c not in present]
    if missing:
        raise InputError(
            f"{path}: missing column {missing[0]!r} (the sample record needs"
            f" {', '.join(REQUIRED)}; see docs/data-format.md)"
        )
    return f"SELECT {_typed_projection(present, src.argument)} FROM {reader}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_collector_db(path: Path) -> bool:
    from netmeasure.collector.db import APPLICATION_ID

    try:
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError:
        return False
    return len(header) == 100 and int.from_bytes(header[68:72], "big") == APPLICATION_ID


def _redact(url: str) -> str:
    from netmeasure.collector.db import _redact as redact

    return redact(url)


def _register_rows(con: Any, src: Source, view: str) -> None:
    """A probe's store or a collector's database, read in batches into a DuckDB table.

    DuckDB's SQLite and PostgreSQL scanners are extensions that would be downloaded at run
    time; large datasets travel as Parquet (`collector export`).
    """
    import contextlib

    import pyarrow as pa

    from netmeasure.export import arrow_schema
    from netmeasure.store import SampleStore

    schema = arrow_schema()
    with contextlib.ExitStack() as stack:
        if src.kind == "collector":
            from netmeasure.collector.db import connect

            db = connect(src.url or "")
            stack.callback(db.close)
            rows = db.iter_rows()
        else:
            rows = stack.enter_context(SampleStore(src.path, create=False)).iter_rows()

        # Read here, in this thread: SQLite connections belong to the thread that made them,
        # and DuckDB may consume a registered stream from a worker thread.
        batches = []
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= 50_000:
                batches.append(_batch(chunk, schema))
                chunk = []
        if chunk:
            batches.append(_batch(chunk, schema))
        table = pa.Table.from_batches(batches, schema=schema)
        con.register(f"{view}_table", table)
        con.execute(f'CREATE TEMP TABLE "{view}" AS SELECT * FROM "{view}_table"')
        con.unregister(f"{view}_table")


def _batch(chunk: list[dict[str, Any]], schema: Any) -> Any:
    import pyarrow as pa

    from netmeasure.samples import parse_ts

    cols: dict[str, list[Any]] = {c: [] for c in ALL_COLUMNS}
    for row in chunk:
        for c in ALL_COLUMNS:
            v = row[c]
            cols[c].append(parse_ts(v) if c == "started_at" and isinstance(v, str) else v)
    return pa.RecordBatch.from_pydict(cols, schema=schema)
