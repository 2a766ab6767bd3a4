"""The collector's fast path: a batch checked column by column, rows built as tuples.

The precise path (``app.validate_batch``: a pydantic model per row, then ``row_problems``)
costs more per sample than a fleet's ingest rate leaves the web process for everything
(analysis/collector_bench.py). Here a batch is decoded by orjson, its rows turned into tuples in
``ALL_COLUMNS`` order, and each column checked in one pass over the batch (types by the set
of the column's types, lengths by their maximum, vocabulary by set inclusion, ranges by
minimum and maximum; times parsed once per distinct text).

This path only ever *accepts*: it answers the rows when every row is plainly acceptable
(the types a JSON encoder of the sample record writes, values inside their documented
ranges), and None otherwise — for anything unusual (a number where text belongs, a bool as a
number, a time in another notation, a control character, a NaN, an extra key holding a
list...) the precise path decides, on the body decoded as before, and names row and field.
Rows this path accepts are exactly the rows the precise path builds from the same body
(tests/test_collector_fastpath.py checks both on many valid and hostile records). Field
names, types, lengths and ranges come from ``netmeasure.record`` (columns and ranges):
nothing is declared twice.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from netmeasure.collector.validate import MAX_BATCH, VOCABULARY
from netmeasure.record import (
    ALL_COLUMNS,
    FIELD_RANGES,
    JSON_TYPES,
    SCHEMA,
    VALUE_RANGES,
    format_ts,
)

try:  # the collector extra brings orjson; without it, the precise path decides every batch
    import orjson

    _loads: Callable[[bytes], Any] | None = orjson.loads
    _DecodeError: type[Exception] = orjson.JSONDecodeError
except ModuleNotFoundError:  # pragma: no cover - orjson is part of the collector extra
    _loads, _DecodeError = None, ValueError

_NONE: Final = type(None)
#: An int this large is decoded differently by orjson and by ``validate.parse_json``
#: (which reads integers of more than 18 digits as floats): such a batch goes the precise way.
_INT_LIMIT: Final = 10**18
#: The ISO-8601 times this path reads itself (ASCII digits only; other notations, such as a
#: space for the T, lower-case letters or more than 6 decimals, go the precise way).
_TIME: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_UTC_ZONES: Final = frozenset({"Z", "+00:00", "-00:00"})
_STARTED_AT: Final = ALL_COLUMNS.index("started_at")
_METRIC: Final = ALL_COLUMNS.index("metric")
_VALUE: Final = ALL_COLUMNS.index("value")
_OK: Final = ALL_COLUMNS.index("ok")
_ERROR: Final = ALL_COLUMNS.index("error")
_ROW: Final = itemgetter(*ALL_COLUMNS)
_ALL_NONE: Final = dict.fromkeys(ALL_COLUMNS)
_KNOWN: Final = frozenset(ALL_COLUMNS)
_SCALARS: Final = frozenset({str, int, float, bool, _NONE})
_VALUE_LOW: Final = {metric: r.low for metric, r in VALUE_RANGES.items()}
_VALUE_HIGH: Final = {metric: r.high for metric, r in VALUE_RANGES.items()}


@dataclass(frozen=True, slots=True)
class _Check:
    """How one column of the record is checked here (all derived from SCHEMA)."""

    index: int
    name: str
    kind: str
    types: frozenset[type]
    required: bool
    max_length: int | None
    low: float | None
    high: float | None
    vocabulary: frozenset[str] | None


def _check(index: int) -> _Check:
    column = SCHEMA[index]
    low: float | None = None
    high: float | None = None
    if column.name in FIELD_RANGES:
        low, high = FIELD_RANGES[column.name].low, FIELD_RANGES[column.name].high
    elif column.name == "value":  # the range of its metric is checked per row below
        low, high = min(_VALUE_LOW.values()), max(_VALUE_HIGH.values())
    # under_load is required in storage but defaulted on the wire (absent: False)
    required = column.required and column.name != "under_load"
    types = JSON_TYPES[column.type] if required else JSON_TYPES[column.type] | {_NONE}
    vocabulary = VOCABULARY.get(column.name)
    return _Check(
        index,
        column.name,
        column.type,
        types,
        required,
        column.max_length,
        low,
        high,
        None if vocabulary is None else frozenset(vocabulary),
    )


#: One check per column, in ALL_COLUMNS order (the tuple order of a row).
CHECKS: Final = tuple(_check(ALL_COLUMNS.index(c.name)) for c in SCHEMA)


def decode(body: bytes) -> Any:
    """The body decoded by orjson, or None when orjson refuses it (the precise path then
    decodes it as before and names the problem)."""
    if _loads is None:
        return None
    try:
        return _loads(body)
    except _DecodeError:
        return None


def plain_rows(data: Any) -> list[tuple[Any, ...]] | None:
    """The batch's rows, ready to store (``ALL_COLUMNS`` order, times as ISO-8601 UTC text,
    numbers of float columns as floats), when every row is plainly acceptable; else None."""
    if type(data) is not dict:
        return None
    rows = data.get("samples")
    if type(rows) is not list or not rows or len(rows) > MAX_BATCH:
        return None
    if len(data) > 1 and not _scalars(v for k, v in data.items() if k != "samples"):
        return None
    if set(map(type, rows)) != {dict}:
        return None
    keys = set().union(*rows)
    # unknown keys are ignored, unless they hold structures
    if not keys <= _KNOWN and not _scalars(
        v for row in rows for k, v in row.items() if k not in _KNOWN
    ):
        return None
    full = rows if all(len(r) == len(_KNOWN) for r in rows) and keys == _KNOWN else None
    tuples = list(map(_ROW, full if full is not None else [{**_ALL_NONE, **r} for r in rows]))
    columns = list(zip(*tuples, strict=True))
    texts: list[str] = []
    for check in CHECKS:
        column = _column(check, columns[check.index], rows, texts)
        if column is None:
            return None
        columns[check.index] = column
    # one pass over every text of the batch: no control character (row_problems), no lone
    # surrogate (_encodable). isprintable is False for those and for a few more (other
    # spaces, format characters, unassigned code points): texts with any of them are left
    # to the precise path, which accepts or refuses them.
    if not "".join(texts).isprintable():
        return None
    if not _records_consistent(columns[_METRIC], columns[_VALUE], columns[_OK], columns[_ERROR]):
        return None
    return list(zip(*columns, strict=True))


def _scalars(values: Any) -> bool:
    return all(type(v) in _SCALARS for v in values)


def _column(
    check: _Check, values: tuple[Any, ...], rows: list[Any], texts: list[str]
) -> tuple[Any, ...] | None:
    """The column as stored, or None when some value is not plainly acceptable."""
    types = set(map(type, values))
    if not types <= check.types:
        return None
    present: Any = values
    if _NONE in types:
        if check.name == "under_load":
            # absent is False; an explicit null is refused by the precise path
            if any(r.get("under_load", False) is None for r in rows):
                return None
            return tuple(False if v is None else v for v in values)
        present = [v for v in values if v is not None]
        if not present:
            return values
    kind = check.kind
    if kind == "str":
        lengths = list(map(len, present))
        if check.max_length is not None and max(lengths) > check.max_length:
            return None
        if check.required and min(lengths) < 1:
            return None
        if check.vocabulary is not None and not set(present) <= check.vocabulary:
            return None
        texts.extend(present)
        return values
    if kind == "ts":
        return _times(values)
    if kind == "bool":
        return values
    # numbers: int, float
    if int in types and kind == "float":
        values = tuple(float(v) if type(v) is int else v for v in values)
        present = [v for v in values if v is not None]
    if kind == "float" and not math.isfinite(sum(present)):
        return None  # a NaN or an infinity (or finite numbers summing past 1e308)
    low, high = min(present), max(present)
    if int in types and not -_INT_LIMIT < low <= high < _INT_LIMIT:
        return None
    if check.low is not None and low < check.low:
        return None
    if check.high is not None and high > check.high:
        return None
    return values


def _times(values: tuple[Any, ...]) -> tuple[str, ...] | None:
    """Each time as ISO-8601 UTC text with microseconds (what the precise path stores)."""
    seen: dict[str, str] = {}
    out = []
    for text in values:
        utc = seen.get(text)
        if utc is None:
            utc = _utc_text(text)
            if utc is None:
                return None
            seen[text] = utc
        out.append(utc)
    return tuple(out)


def _utc_text(text: str) -> str | None:
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    base, fraction, zone = match.groups()
    try:
        if zone in _UTC_ZONES:
            dt.datetime.fromisoformat(base)  # the date and the time exist
            return f"{base}.{(fraction or '').ljust(6, '0')}Z"
        utc = dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    return format_ts(utc)


def _records_consistent(
    metrics: tuple[Any, ...], values: tuple[Any, ...], oks: tuple[Any, ...], errors: tuple[Any, ...]
) -> bool:
    """validate_sample_fields and the value's range for its metric, for every row: an ok
    sample has a value inside its metric's range, a failed one no value and an error class."""
    low, high = _VALUE_LOW, _VALUE_HIGH
    return all(
        (v is not None and low[m] <= v <= high[m]) if ok else (v is None and bool(e))
        for m, v, ok, e in zip(metrics, values, oks, errors, strict=True)
    )
