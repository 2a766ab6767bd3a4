"""The one table of plausible values, and its Python and SQL forms.

A value outside its range is not a measurement but an error (a unit mistake, a broken tool):
the collector refuses the row (docs/collector.md, "Validation"), evaluate counts it as the
``invalid_value`` exclusion (docs/evaluate.md). Both read this table, so that a row the
collector stored is never one evaluate leaves out as implausible.

Why these bounds:

- bit/s up to 1 Tbit/s: the fastest single host interfaces are 800 Gbit/s; a rate above
  that is a unit error (bytes for bits, kbit/s for bit/s), not a test result.
- ms up to 10 minutes: every runner's timeout is shorter; a latency or jitter above it is
  a clock step or a unit error (µs for ms).
- ratio 0…1 by definition.
- dBm −200…0: 3GPP reports SS-RSRP from −156 to −31 dBm (TS 38.133 §10.1.6) and RSRP
  from −140 to −44 dBm (TS 36.133 §9.1.4); a reading outside a wide margin around these is
  a fault or a unit error, not a radio condition (as the ``rsrp_dbm`` column's range).

The collector accepted up to 10 Tbit/s and an hour before issue 21, while evaluate left out
anything above 1 Tbit/s or 10 minutes: evaluate's bounds were kept, so that no evaluation
changes; a collector now refuses what evaluate would not have used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from netmeasure.record.vocab import METRIC_UNITS


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds, in the record's unit."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


#: A metric's value, by the metric's unit.
UNIT_RANGES: Final[dict[str, Range]] = {
    "bit/s": Range(0.0, 1e12),
    "ms": Range(0.0, 600_000.0),
    "ratio": Range(0.0, 1.0),
    # a received level: 3GPP TS 38.133 reports RSRP from -156 to -31 dBm; margin both ways
    "dBm": Range(-200.0, 0.0),
}

#: A metric outside the vocabulary (a newer probe's, read by an older evaluate) is checked
#: for its sign only; the bound stays a finite SQL literal.
UNKNOWN_METRIC: Final = Range(0.0, 1e300)

#: Each metric's value range (derived from its unit).
VALUE_RANGES: Final[dict[str, Range]] = {m: UNIT_RANGES[u] for m, u in METRIC_UNITS.items()}

#: The other numeric columns the collector checks.
FIELD_RANGES: Final[dict[str, Range]] = {
    "duration_s": Range(0.0, 86_400.0),  # a test of more than a day is a stuck clock
    "streams": Range(0, 1000),  # 0: some tools report no connection count
    "latitude": Range(-90.0, 90.0),
    "longitude": Range(-180.0, 180.0),
    "rsrp_dbm": UNIT_RANGES["dBm"],
    "rsrq_db": Range(-50.0, 20.0),
    "sinr_db": Range(-50.0, 60.0),
    "monotonic_s": Range(0.0, 1e10),  # seconds since boot: less than 300 years
}


def value_range(metric: str) -> Range:
    return VALUE_RANGES.get(metric, UNKNOWN_METRIC)


def value_plausible(metric: str, value: float) -> bool:
    """A finite value inside its metric's range."""
    return math.isfinite(value) and value in value_range(metric)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def value_outside_sql(metric: str = "metric", value: str = "value") -> str:
    """SQL (DuckDB and Spark alike): TRUE when a non-NULL, non-NaN ``value`` is outside its
    ``metric``'s range (the SQL form of ``value_plausible`` but for NaN and infinity, which
    each dialect tests its own way)."""

    def bound(side: str) -> str:
        values = {m: getattr(r, side) for m, r in VALUE_RANGES.items()}
        default = getattr(UNKNOWN_METRIC, side)
        if set(values.values()) == {default}:
            return repr(default)
        cases = " ".join(f"WHEN {metric} = {_sql_text(m)} THEN {v!r}" for m, v in values.items())
        return f"(CASE {cases} ELSE {default!r} END)"

    return f"{value} < {bound('low')} OR {value} > {bound('high')}"
