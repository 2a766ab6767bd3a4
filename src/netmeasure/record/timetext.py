"""The record's time as text: ISO-8601 UTC with microseconds and a 'Z'
(2026-11-23T14:40:20.123456Z), in every store, export and request."""

from __future__ import annotations

import datetime as dt
from typing import Final

_ZERO: Final = dt.timedelta(0)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_ts(ts: dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and a 'Z': 2026-11-23T14:40:20.123456Z."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: netmeasure times are UTC-aware")
    if ts.utcoffset() != _ZERO:
        ts = ts.astimezone(dt.UTC)
    # isoformat, not strftime: strftime is several times slower, and this runs once per
    # stored sample.
    return ts.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_ts(text: str) -> dt.datetime:
    """Parse an ISO-8601 time; a time without an offset is taken as UTC."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:  # year 9999 with a negative offset, year 1 with a positive
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from exc


def epoch_s(text: str) -> float:
    """Seconds since 1970 of an ISO-8601 time with a zone."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


#: The record's time text as each engine's formatting function spells it (a UTC timestamp
#: to 2026-11-23T14:40:20.123456Z): DuckDB's strftime, Spark's date_format (the session in
#: UTC), PostgreSQL's to_char (after AT TIME ZONE 'UTC').
ISO_PATTERNS: Final[dict[str, str]] = {
    "duckdb": "%Y-%m-%dT%H:%M:%S.%fZ",
    "spark": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'",
    "postgresql": 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"',
}
