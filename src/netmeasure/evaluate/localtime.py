"""A zone's UTC offsets over a dataset's span, for local day and hour by integer arithmetic.

evaluate needs the local day and hour of every row (clusters by day, the sampling rules'
days and hours). A time-zone conversion by the engine (DuckDB's ICU ``timezone()``, Spark's
``from_utc_timestamp``) looks up the zone's rules for every row, and the rows are converted
in two scans (analysis/results/evaluate_bench.md measures the share of the engine's time).
Over the span of a dataset a zone has few offsets (Asia/Ho_Chi_Minh one
since 1975; a zone with daylight saving time two a year), so the local time is the UTC time
plus the offset of the interval it falls in: integer arithmetic, no lookup a row.

``utc_offsets`` finds those intervals with Python's zoneinfo; plan.Plan then writes the
arithmetic instead of the engine's conversion, and plan.reduce first checks, in the engine,
that both give the same day and hour at every hour of the span and on both sides of every
offset change. The engine's tz database can differ from Python's (DuckDB 2.0's ICU and
tzdata 2026 disagree on Africa/Casablanca from September 2026): then evaluate keeps the
engine's own conversion rather than place a row on another day or hour. So do spans this
module does not handle (before 1970, after 2200, longer than 50 years, more than 200 offset
changes: far or hostile dates).
"""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo

#: Microseconds per day and per hour.
US_PER_DAY: Final = 86_400_000_000
US_PER_HOUR: Final = 3_600_000_000

#: The probe step: no zone changes its offset twice within six hours.
_STEP_US: Final = 6 * US_PER_HOUR
#: The spans handled: local times in [1970, 2200), at most 50 years, at most 200 changes.
_LAST_US: Final = int(dt.datetime(2200, 1, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
_MAX_SPAN_US: Final = 50 * 366 * US_PER_DAY
_MAX_CHANGES: Final = 200

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: (first microsecond since 1970 UTC, offset in microseconds), ascending.
Offsets = tuple[tuple[int, int], ...]


def _offset_us(zone: ZoneInfo, t_us: int) -> int:
    local = (_EPOCH + dt.timedelta(microseconds=t_us)).astimezone(zone)
    off = local.utcoffset()
    assert off is not None  # a ZoneInfo always has one
    return off // dt.timedelta(microseconds=1)


def utc_offsets(timezone: str, first_us: int, last_us: int) -> Offsets | None:
    """The intervals of one UTC offset of ``timezone`` covering [first_us, last_us]
    (microseconds since 1970 UTC), or None where the arithmetic is not used."""
    if first_us > last_us or last_us - first_us > _MAX_SPAN_US:
        return None
    if first_us < US_PER_DAY or last_us >= _LAST_US:  # the day before 1970 may be local
        return None
    zone = ZoneInfo(timezone)
    out = [(first_us, _offset_us(zone, first_us))]
    t = first_us
    while t < last_us:
        nxt = min(t + _STEP_US, last_us)
        here = _offset_us(zone, nxt)
        if here != out[-1][1]:
            # the first microsecond of the new offset: bisect (t keeps the old one)
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_us(zone, mid) == out[-1][1]:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, here))
            if len(out) > _MAX_CHANGES:
                return None
        t = nxt
    return tuple(out)


def local_us_sql(epoch_us: str, offsets: Offsets) -> str:
    """Local microseconds since 1970 of the UTC microseconds ``epoch_us`` (an SQL
    expression), by the offsets' intervals."""
    if len(offsets) == 1:
        return f"({epoch_us} + {offsets[0][1]})"
    # an offset holds until the next interval's first microsecond
    cases = " ".join(
        f"WHEN {epoch_us} < {nxt} THEN {off}" for (_, off), (nxt, _) in pairwise(offsets)
    )
    return f"({epoch_us} + CASE {cases} ELSE {offsets[-1][1]} END)"


def check_points(offsets: Offsets, last_us: int) -> list[int]:
    """The UTC microseconds at which the arithmetic is checked against the engine's own
    conversion, besides every hour of the span: each offset change and the microsecond
    before it, and the span's ends."""
    points = [offsets[0][0], last_us]
    for start, _ in offsets[1:]:
        points += [start - 1, start]
    return sorted(set(points))
