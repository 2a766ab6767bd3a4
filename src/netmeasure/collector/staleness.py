"""When a probe is stale: one rule for the dashboard's fleet table and the collector's
Prometheus metrics (a probe not heard from for longer than ``stale_after_s``, or never)."""

from __future__ import annotations

import datetime as dt
from typing import Final

#: The collector's default (``collector serve --stale-after``).
DEFAULT_STALE_AFTER_S: Final = 900.0


def age_s(t: str | None, now: dt.datetime) -> float | None:
    """Seconds from the time ``t`` (ISO 8601; without an offset: UTC) to ``now``; None when
    there is no time or it does not read."""
    if not t:
        return None
    try:
        then = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (now - then).total_seconds())


def is_stale(age: float | None, stale_after_s: float) -> bool:
    """Never heard from, or not for longer than ``stale_after_s``."""
    return age is None or age > stale_after_s
