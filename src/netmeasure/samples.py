"""The sample record (docs/contracts.md §1): one row per measured value.

A test that failed is still a row (``ok = False``, ``value = None``, ``error`` set): failures
are data, and the access-failure ratio is computed from them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import operator
import uuid
from collections.abc import Mapping
from typing import Any, Final

METRICS: Final = ("download", "upload", "latency", "jitter", "packet_loss")

#: Units of each metric's ``value`` (docs/contracts.md: bit/s, ms, ratio).
METRIC_UNITS: Final[dict[str, str]] = {
    "download": "bit/s",
    "upload": "bit/s",
    "latency": "ms",
    "jitter": "ms",
    "packet_loss": "ratio",
}

#: Classes of failure, as the ``error`` column names them.
ERRORS: Final = (
    "timeout",
    "connect",
    "dns",
    "server_busy",
    "tool_missing",
    "tool_error",
    "interrupted",
)

ENVIRONMENTS: Final = ("indoor", "outdoor_fixed", "outdoor_mobile")


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """One column of the sample record: the one declaration every reader and writer derives
    from (store and collector DDL, Parquet schema, CSV header, the collector's request model).
    """

    name: str
    type: str  # str | ts | float | int | bool ("ts": ISO-8601 UTC text in text formats)
    required: bool = False  # NOT NULL in every database, required in the request model
    extra: bool = False  # a documented extra after the contract's columns
    max_length: int | None = None  # text: the collector refuses longer values
    ge: float | None = None  # numbers: inclusive bounds the collector enforces
    le: float | None = None


#: The sample record, in the contract's order, then the documented extras
#: (docs/contracts.md §1, docs/data-format.md).
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
    Column("latitude", "float", ge=-90, le=90),
    Column("longitude", "float", ge=-180, le=180),
    Column("rsrp_dbm", "float"),
    Column("rsrq_db", "float"),
    Column("sinr_db", "float"),
    Column("cell_id", "str", max_length=200),
    Column("band", "str", max_length=64),
    Column("host", "str", extra=True, max_length=500),
    Column("interface", "str", extra=True, max_length=200),
    Column("source", "str", extra=True, max_length=1000),
)

#: The contract's columns, in the contract's order (exports keep this order).
COLUMNS: Final = tuple(c.name for c in SCHEMA if not c.extra)

#: Documented extras, after the contract's columns (docs/data-format.md).
EXTRA_COLUMNS: Final = tuple(c.name for c in SCHEMA if c.extra)

ALL_COLUMNS: Final = COLUMNS + EXTRA_COLUMNS

#: Column types, for stores and exports.
COLUMN_TYPES: Final[dict[str, str]] = {c.name: c.type for c in SCHEMA}

#: Columns no row may leave empty.
REQUIRED_COLUMNS: Final = tuple(c.name for c in SCHEMA if c.required)

#: Storage types of each database dialect netmeasure writes.
SQL_TYPES: Final[dict[str, dict[str, str]]] = {
    "sqlite": {"str": "TEXT", "ts": "TEXT", "float": "REAL", "int": "INTEGER", "bool": "INTEGER"},
    "postgresql": {
        "str": "text",
        "ts": "timestamptz",
        "float": "double precision",
        "int": "bigint",
        "bool": "boolean",
    },
}


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


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_ts(ts: dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and a 'Z': 2026-11-23T14:40:20.123456Z."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: netmeasure times are UTC-aware")
    if ts.utcoffset() != _ZERO:
        ts = ts.astimezone(dt.UTC)
    # isoformat is several times faster than strftime, and this runs once per stored sample.
    return ts.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_ZERO: Final = dt.timedelta(0)


def parse_ts(text: str) -> dt.datetime:
    """Parse an ISO-8601 time; a time without an offset is taken as UTC."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:  # year 9999 with a negative offset, year 1 with a positive
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from exc


def new_id() -> str:
    return str(uuid.uuid4())


# A fixed namespace so that content-derived ids are the same on every machine.
_CONTENT_NAMESPACE: Final = uuid.UUID("6f2a3c1e-5b7d-4e0a-9c3b-2d1e0f4a5b6c")


def content_id(*parts: object) -> str:
    """A UUID derived from content: importing the same measurement twice gives the same id.

    Exactly ``str(uuid.uuid5(namespace, name))``, without the UUID object (the import's
    hot path computes several per row).
    """
    name = "\x1f".join(map(repr, parts)).encode("utf-8")
    h = bytearray(hashlib.sha1(_CONTENT_NAMESPACE.bytes + name).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """Where, on what and by whom a test was measured: copied onto each of its samples."""

    probe_id: str
    campaign: str | None = None
    environment: str | None = None
    area: str | None = None
    operator: str | None = None
    technology: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    sinr_db: float | None = None
    cell_id: str | None = None
    band: str | None = None
    host: str | None = None
    interface: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Measurement:
    """One value a runner measured, before the context is attached."""

    metric: str
    value: float | None
    ok: bool = True
    error: str | None = None
    started_at: dt.datetime | None = None
    duration_s: float | None = None
    under_load: bool = False
    tool: str | None = None  # when it differs from the test's (latency under an iperf3 load)


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One row of the sample record, exactly the contract's columns plus documented extras."""

    sample_id: str
    test_id: str
    probe_id: str
    started_at: dt.datetime
    metric: str
    value: float | None
    ok: bool
    tool: str
    campaign: str | None = None
    duration_s: float | None = None
    error: str | None = None
    tool_version: str | None = None
    target: str | None = None
    streams: int | None = None
    under_load: bool = False
    environment: str | None = None
    area: str | None = None
    operator: str | None = None
    technology: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    sinr_db: float | None = None
    cell_id: str | None = None
    band: str | None = None
    host: str | None = None
    interface: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        problem = validate_sample_fields(self.metric, self.value, self.ok, self.error)
        if problem:
            raise ValueError(f"sample {self.sample_id}: {problem}")

    def to_values(self) -> tuple[Any, ...]:
        """The values in ``ALL_COLUMNS`` order, the time as a datetime (Parquet's hot path)."""
        return tuple(_ROW_GETTER(self))

    def to_sql_row(self) -> list[Any]:
        """The values in ``ALL_COLUMNS`` order, time as text (the store's hot path)."""
        row = list(_ROW_GETTER(self))
        row[_STARTED_AT] = format_ts(self.started_at)
        return row

    def to_row(self) -> dict[str, Any]:
        """The sample as a dict in ``ALL_COLUMNS`` order, times as ISO-8601 UTC strings."""
        row = {name: getattr(self, name) for name in ALL_COLUMNS}
        row["started_at"] = format_ts(self.started_at)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Sample:
        values: dict[str, Any] = {name: row.get(name) for name in ALL_COLUMNS}
        started = values["started_at"]
        values["started_at"] = parse_ts(started) if isinstance(started, str) else started
        values["ok"] = bool(values["ok"])
        values["under_load"] = bool(values["under_load"])
        return cls(**values)


_ROW_GETTER: Final = operator.attrgetter(*ALL_COLUMNS)
_STARTED_AT: Final = ALL_COLUMNS.index("started_at")


def validate_sample_fields(metric: str, value: float | None, ok: bool, error: str | None) -> str:
    """The reason a sample is malformed, or '' when it is well formed."""
    if not metric:
        return "metric is empty"
    if ok:
        if value is None:
            return f"{metric}: ok sample without a value"
        if not math.isfinite(value):
            return f"{metric}: value {value!r} is not a finite number"
        if value < 0:
            return f"{metric}: negative value {value!r}"
        if metric == "packet_loss" and value > 1:
            return f"packet_loss {value!r} is above 1 (it is a ratio 0..1)"
    else:
        if value is not None:
            return f"{metric}: failed sample carries a value"
        if not error:
            return f"{metric}: failed sample without an error class"
    return ""


def build_samples(
    measurements: list[Measurement],
    *,
    context: Context,
    test_id: str,
    tool: str,
    tool_version: str | None,
    target: str | None,
    streams: int | None,
    started_at: dt.datetime,
) -> list[Sample]:
    """Attach a test's context to each of its measurements."""
    ctx = dataclasses.asdict(context)
    return [
        Sample(
            sample_id=new_id(),
            test_id=test_id,
            started_at=m.started_at or started_at,
            metric=m.metric,
            value=m.value,
            ok=m.ok,
            error=m.error,
            duration_s=m.duration_s,
            under_load=m.under_load,
            tool=m.tool or tool,
            tool_version=tool_version if m.tool in (None, tool) else None,
            target=target,
            streams=streams,
            **ctx,
        )
        for m in measurements
    ]
