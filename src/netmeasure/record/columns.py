"""The sample record's columns (docs/contracts.md §1, docs/data-format.md): names, kinds, which are
required, length limits, and how each kind is spelled in every system netmeasure reads or
writes (SQLite, PostgreSQL, DuckDB, Spark, Arrow, JSON, Python). Every store, export, reader
and request model derives its columns from here."""

from __future__ import annotations

import dataclasses
from typing import Any, Final, Literal

Kind = Literal["str", "ts", "float", "int", "bool"]


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """One column of the sample record."""

    name: str
    type: Kind  # "ts": a UTC time; ISO-8601 text (timetext.py) in text formats
    required: bool = False  # NOT NULL in every database, required in the request model
    extra: bool = False  # a documented extra after the contract's columns
    max_length: int | None = None  # text: the collector refuses longer values


#: The sample record, in the contract's order, then the documented extras.
SCHEMA: Final = (
    Column("sample_id", "str", required=True, max_length=200),
    Column("test_id", "str", required=True, max_length=200),
    Column("probe_id", "str", required=True, max_length=200),
    Column("campaign", "str", max_length=500),
    Column("started_at", "ts", required=True),
    Column("duration_s", "float"),
    Column("metric", "str", required=True, max_length=64),
    Column("value", "float"),
    Column("ok", "bool", required=True),
    Column("error", "str", max_length=200),
    Column("tool", "str", required=True, max_length=200),
    Column("tool_version", "str", max_length=200),
    Column("target", "str", max_length=500),
    Column("streams", "int"),
    Column("under_load", "bool", required=True),
    Column("environment", "str", max_length=64),
    Column("area", "str", max_length=500),
    Column("operator", "str", max_length=200),
    Column("technology", "str", max_length=64),
    Column("latitude", "float"),
    Column("longitude", "float"),
    Column("rsrp_dbm", "float"),
    Column("rsrq_db", "float"),
    Column("sinr_db", "float"),
    Column("cell_id", "str", max_length=200),
    Column("band", "str", max_length=64),
    Column("host", "str", extra=True, max_length=500),
    Column("interface", "str", extra=True, max_length=200),
    Column("source", "str", extra=True, max_length=1000),
    # The probe's clock when the sample was taken (issue 23): synchronised or not, the boot,
    # and CLOCK_BOOTTIME at its start, so that a sample taken before a clock step can be
    # re-timed within its boot, or left out.
    Column("clock_synced", "bool", extra=True),
    Column("boot_id", "str", extra=True, max_length=64),
    Column("monotonic_s", "float", extra=True),
)

#: The contract's columns, in the contract's order (exports keep this order).
COLUMNS: Final = tuple(c.name for c in SCHEMA if not c.extra)

#: Documented extras, after the contract's columns (docs/data-format.md).
EXTRA_COLUMNS: Final = tuple(c.name for c in SCHEMA if c.extra)

ALL_COLUMNS: Final = COLUMNS + EXTRA_COLUMNS

#: Each column's kind (str, ts, float, int, bool).
COLUMN_TYPES: Final[dict[str, Kind]] = {c.name: c.type for c in SCHEMA}

#: Columns no row may leave empty.
REQUIRED_COLUMNS: Final = tuple(c.name for c in SCHEMA if c.required)


def columns_of(kind: Kind) -> tuple[str, ...]:
    """The columns of one kind, in record order."""
    return tuple(c.name for c in SCHEMA if c.type == kind)


#: Flag columns (SQLite stores them as 0/1; readers give booleans, a NULL stays None).
BOOL_COLUMNS: Final = columns_of("bool")

#: Free-text columns (exports neutralise spreadsheet formulas in them).
TEXT_COLUMNS: Final = frozenset(columns_of("str"))

#: How each kind is declared in the databases and engines netmeasure writes and reads.
SQL_TYPES: Final[dict[str, dict[Kind, str]]] = {
    "sqlite": {"str": "TEXT", "ts": "TEXT", "float": "REAL", "int": "INTEGER", "bool": "INTEGER"},
    "postgresql": {
        "str": "text",
        "ts": "timestamptz",
        "float": "double precision",
        "int": "bigint",
        "bool": "boolean",
    },
    "duckdb": {
        "str": "VARCHAR",
        "ts": "TIMESTAMPTZ",
        "float": "DOUBLE",
        "int": "BIGINT",
        "bool": "BOOLEAN",
    },
    "spark": {
        "str": "STRING",
        "ts": "TIMESTAMP",
        "float": "DOUBLE",
        "int": "BIGINT",
        "bool": "BOOLEAN",
    },
}

#: Per kind, an SQLite expression of one definite type over column ``{c}``: a value of another
#: type (text in a number column, a number in a flag) becomes NULL, never SQLite's silent 0.
SQLITE_STRICT_READ: Final[dict[Kind, str]] = {
    "str": "CAST({c} AS TEXT)",
    "ts": "CAST({c} AS TEXT)",
    "float": "CASE WHEN typeof({c}) IN ('real', 'integer') THEN CAST({c} AS REAL) END",
    "int": "CASE WHEN typeof({c}) = 'integer' THEN {c} END",
    "bool": "CASE WHEN {c} IN (0, 1) THEN {c} END",
}

#: The Python types a JSON decoder gives each kind (the wire form of a row).
JSON_TYPES: Final[dict[Kind, frozenset[type]]] = {
    "str": frozenset({str}),
    "ts": frozenset({str}),
    "float": frozenset({float, int}),
    "int": frozenset({int}),
    "bool": frozenset({bool}),
}


def python_type(kind: Kind) -> type:
    """The Python type of a kind's values in memory (a request model's field type)."""
    import datetime as dt

    return {"str": str, "ts": dt.datetime, "float": float, "int": int, "bool": bool}[kind]


def sql_columns(dialect: str) -> list[str]:
    """The sample record's column definitions in ``dialect`` (sqlite, postgresql)."""
    types = SQL_TYPES[dialect]
    out = []
    for c in SCHEMA:
        decl = f"{c.name} {types[c.type]}"
        if c.name == "sample_id":
            decl += " PRIMARY KEY"
        elif c.required:
            decl += " NOT NULL"
        out.append(decl)
    return out


def arrow_type(kind: Kind, *, time_as_text: bool = False) -> Any:
    """A kind's Arrow type: times in UTC microseconds (Parquet), or as their ISO text where a
    reader casts them itself (a time that does not parse then becomes NULL, not an error)."""
    import pyarrow as pa

    if kind == "ts":
        return pa.string() if time_as_text else pa.timestamp("us", tz="UTC")
    return {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}[kind]


def arrow_schema(columns: tuple[str, ...] = ALL_COLUMNS, *, time_as_text: bool = False) -> Any:
    """The Arrow schema of ``columns`` of the record (by default all, in record order)."""
    import pyarrow as pa

    return pa.schema([(c, arrow_type(COLUMN_TYPES[c], time_as_text=time_as_text)) for c in columns])
