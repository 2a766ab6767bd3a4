"""The sample record (contracts.md §1): one row per measured value.

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

# The record's definitions live in netmeasure.record; they stay importable from here.
from netmeasure.record import (
    ALL_COLUMNS,
    BOOL_COLUMNS,
    COLUMN_TYPES,
    COLUMNS,
    ENVIRONMENTS,
    ERROR_OUTCOMES,
    ERRORS,
    EXTRA_COLUMNS,
    METRIC_UNITS,
    METRICS,
    OUTCOMES,
    REQUIRED_COLUMNS,
    SCHEMA,
    SQL_TYPES,
    UNIT_RANGES,
    Column,
    errors_of,
    format_ts,
    parse_ts,
    sql_columns,
    utc_now,
    value_range,
)

__all__ = [
    "ALL_COLUMNS",
    "BOOL_COLUMNS",
    "COLUMNS",
    "COLUMN_TYPES",
    "ENVIRONMENTS",
    "ERRORS",
    "ERROR_OUTCOMES",
    "EXTRA_COLUMNS",
    "METRICS",
    "METRIC_UNITS",
    "OUTCOMES",
    "REQUIRED_COLUMNS",
    "SCHEMA",
    "SQL_TYPES",
    "ClockStamp",
    "Column",
    "Context",
    "Measurement",
    "Sample",
    "build_samples",
    "content_id",
    "errors_of",
    "format_ts",
    "new_id",
    "parse_ts",
    "sql_columns",
    "utc_now",
    "validate_sample_fields",
]


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
    clock_synced: bool | None = None  # None: not recorded (imports, older probes)
    boot_id: str | None = None  # /proc/sys/kernel/random/boot_id
    monotonic_s: float | None = None  # CLOCK_BOOTTIME at the sample's start, in s

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
        for name in BOOL_COLUMNS:  # 0/1 from SQLite; a nullable flag's None stays None
            if values[name] is not None or name in REQUIRED_COLUMNS:
                values[name] = bool(values[name])
        return cls(**values)


_ROW_GETTER: Final = operator.attrgetter(*ALL_COLUMNS)
_RATIO: Final = UNIT_RANGES["ratio"]
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
        if value < 0 and value_range(metric).low >= 0:  # a level in dBm is negative
            return f"{metric}: negative value {value!r}"
        if METRIC_UNITS.get(metric) == "ratio" and value > _RATIO.high:
            return f"{metric} {value!r} is above 1 (it is a ratio 0..1)"
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
    clock: ClockStamp | None = None,
) -> list[Sample]:
    """Attach a test's context (and the probe's clock state) to each of its measurements."""
    ctx = dataclasses.asdict(context)
    stamp = clock or ClockStamp()
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
            clock_synced=stamp.synced,
            boot_id=stamp.boot_id,
            monotonic_s=stamp.monotonic_of(m.started_at or started_at),
            **ctx,
        )
        for m in measurements
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class ClockStamp:
    """The probe's clock when a test's samples are built: synchronised or not, the boot, and
    ``wall_minus_monotonic`` (realtime minus CLOCK_BOOTTIME, s) to place each sample's start
    on the monotonic clock."""

    synced: bool | None = None
    boot_id: str | None = None
    wall_minus_monotonic: float | None = None
    # After the test (set by ``after``): the offset then, and the test's monotonic span. A
    # step during the test moved the offset: each sample takes the one that puts it inside
    # the span (a step is far larger than a test is long).
    wall_minus_monotonic_after: float | None = None
    span: tuple[float, float] | None = None

    def monotonic_of(self, at: dt.datetime) -> float | None:
        if self.wall_minus_monotonic is None:
            return None
        offsets = [self.wall_minus_monotonic]
        if self.wall_minus_monotonic_after is not None:
            offsets.append(self.wall_minus_monotonic_after)
        candidates = [at.timestamp() - o for o in offsets]
        if self.span is not None:
            low, high = self.span
            inside = [m for m in candidates if low - 1.0 <= m <= high + 1.0]
            if inside:
                return max(0.0, inside[0])
        return max(0.0, candidates[0])
