"""Exact order statistics on Spark without sorting whole groups.

The value of rank r (1-based, ascending) in each group, exactly, for groups of any size.
Sorting a group of a billion values would put them all in one task; instead:

1. A window is an open interval (lo, hi) of values holding the wanted rank, with the exact
   count of the group's values below it (``below``) and in it (``count``). It starts as
   (−∞, +∞), below 0, count n.
2. A window of at most ``sort_limit`` values is resolved by sorting just those values
   (row_number over the window, plus ``below``): exact, and a small sort.
3. A larger window is split at candidate pivots — values near the wanted rank taken from
   approximate quantiles of the window (Spark's ``percentile_approx``). One pass counts,
   exactly, the window's values strictly between consecutive candidates and equal to each
   candidate, and sketches the quantiles of each open piece for the next round. The
   wanted rank falls in exactly one piece by these exact counts: equal to a candidate (then
   that candidate is the value), or strictly between two (the next, smaller window).

The approximation only chooses where to cut; every count is exact, so the result is exact
whatever ``percentile_approx`` returns (a poor pivot costs a round, not exactness). The
candidates are values of the data, so every round removes at least the values equal to
them: the windows shrink strictly, by about the grid's size a round when the sketches are
good; after ``max_rounds`` the remaining windows are sorted whatever their size. Ties need
no care: a block of equal values is one piece, resolved without a sort.

This is the classic selection by sampled splitters (Floyd & Rivest, "Expected time bounds
for selection", CACM 18(3), 1975), with the sample replaced by a mergeable quantile sketch
(Greenwald & Khanna, SIGMOD 2001: what percentile_approx computes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

#: Values per window that are sorted rather than split further.
SORT_LIMIT: Final = 100_000
#: Approximate quantiles per window sketch (percentages 0, 1/GRID, ..., 1).
GRID: Final = 1000
#: percentile_approx's accuracy: rank error about count / ACCURACY, well inside a grid step.
ACCURACY: Final = 10_000
MAX_ROUNDS: Final = 6


@dataclass(slots=True)
class _Window:
    g: Any
    lo: float
    hi: float
    below: int
    count: int
    pivots: list[float] | None = None  # approximate quantiles of the window's values


@dataclass(frozen=True, slots=True)
class RankValues:
    """The values at the requested ranks, and what it took (for tests and the docs)."""

    values: Mapping[tuple[Any, int], float]
    split_passes: int = 0  # passes that split windows at pivots
    sort_passes: int = 0  # passes that sorted small windows
    largest_sort: int = 0  # most values sorted in one window
    rounds: tuple[int, ...] = field(default_factory=tuple)  # windows split per round


def values_at_ranks(
    values: Any,
    wanted: Mapping[Any, tuple[int, Iterable[int]]],
    *,
    sort_limit: int = SORT_LIMIT,
    grid: int = GRID,
    accuracy: int = ACCURACY,
    max_rounds: int = MAX_ROUNDS,
) -> RankValues:
    """The exact value of each wanted rank.

    ``values``: a Spark DataFrame with columns ``g`` (the group, any orderable type) and
    ``value`` (DOUBLE, no NULL or NaN). ``wanted``: group -> (its number of values n, the
    1-based ranks wanted, each in 1..n).
    """
    from pyspark import StorageLevel

    windows: dict[int, _Window] = {}
    at: dict[tuple[Any, int], int] = {}  # (g, rank) -> window id
    for g, (n, ranks) in wanted.items():
        rs = sorted(set(ranks))
        if not rs:
            continue
        if rs[0] < 1 or rs[-1] > n:
            raise ValueError(f"group {g!r}: ranks {rs[0]}..{rs[-1]} outside 1..{n}")
        wid = len(windows)
        windows[wid] = _Window(g, -math.inf, math.inf, 0, n)
        for r in rs:
            at[(g, r)] = wid
    out: dict[tuple[Any, int], float] = {}
    split_passes = sort_passes = largest = 0
    rounds: list[int] = []
    persisted = False
    try:
        for round_no in range(max_rounds + 1):
            live = {wid for key, wid in at.items() if key not in out}
            big = [w for w in live if windows[w].count > sort_limit and round_no < max_rounds]
            small = [w for w in live if w not in big]
            if small:
                got = _sort_windows(values, windows, small, at, out)
                out.update(got)
                sort_passes += 1
                largest = max(largest, *(windows[w].count for w in small))
            if not big:
                break
            if not persisted:
                values = values.persist(StorageLevel.MEMORY_AND_DISK)
                persisted = True
            _split(values, windows, big, at, out, grid, accuracy)
            split_passes += 1
            rounds.append(len(big))
    finally:
        if persisted:
            values.unpersist()
    missing = [key for key in at if key not in out]
    if missing:  # cannot happen with exact counts; a broken invariant must not pass silently
        raise RuntimeError(f"order statistics: ranks not resolved: {missing[:5]}")
    return RankValues(out, split_passes, sort_passes, largest, tuple(rounds))


def _windows_frame(values: Any, rows: list[tuple[Any, ...]], extra: str) -> Any:
    g_type = values.schema["g"].dataType.simpleString()
    schema = f"g {g_type}, wid INT, lo DOUBLE, hi DOUBLE, {extra}"
    return values.sparkSession.createDataFrame(rows, schema)


def _in_window(values: Any, frame: Any) -> Any:
    from pyspark.sql import functions as F

    w = F.broadcast(frame.withColumnRenamed("g", "wg"))
    cond = (F.col("g") == F.col("wg")) & (F.col("value") > F.col("lo"))
    return values.join(w, cond & (F.col("value") < F.col("hi")))


def _sort_windows(
    values: Any,
    windows: dict[int, _Window],
    wids: list[int],
    at: dict[tuple[Any, int], int],
    out: dict[tuple[Any, int], float],
) -> dict[tuple[Any, int], float]:
    """Resolve small windows by sorting their values: rank = below + row_number."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    chosen = set(wids)
    frame = _windows_frame(
        values,
        [(windows[w].g, w, windows[w].lo, windows[w].hi, windows[w].below) for w in wids],
        "below BIGINT",
    )
    wanted = values.sparkSession.createDataFrame(
        [(wid, r) for (_, r), wid in at.items() if wid in chosen and (_, r) not in out],
        "wid INT, r BIGINT",
    )
    order = Window.partitionBy("wid").orderBy("value")
    ranked = _in_window(values, frame).select(
        "wid", "value", (F.row_number().over(order) + F.col("below")).alias("r")
    )
    rows = ranked.join(F.broadcast(wanted), ["wid", "r"]).select("wid", "r", "value").collect()
    return {(windows[row["wid"]].g, int(row["r"])): float(row["value"]) for row in rows}


def _candidates(w: _Window, local_ranks: list[int], grid: int) -> list[float]:
    """Pivots around each wanted rank: the grid points either side of its estimated
    position and one more on each side, in case the sketch is off by a step."""
    if not w.pivots:
        return []
    top = len(w.pivots) - 1
    cands = set()
    for t in local_ranks:
        e = t / w.count * top
        for i in (math.floor(e) - 1, math.floor(e), math.ceil(e), math.ceil(e) + 1):
            cands.add(w.pivots[min(top, max(0, i))])
    return sorted(c for c in cands if w.lo < c < w.hi)


def _split(
    values: Any,
    windows: dict[int, _Window],
    wids: list[int],
    at: dict[tuple[Any, int], int],
    out: dict[tuple[Any, int], float],
    grid: int,
    accuracy: int,
) -> None:
    """One pass: exact counts of each window's pieces between and at its candidates, and a
    quantile sketch of each open piece; then each wanted rank moves to its piece."""
    from pyspark.sql import functions as F

    pending: dict[int, list[int]] = {w: [] for w in wids}
    for (g, r), wid in at.items():
        if wid in pending and (g, r) not in out:
            pending[wid].append(r)
    cands = {
        w: _candidates(windows[w], [r - windows[w].below for r in rs], grid)
        for w, rs in pending.items()
    }
    frame = _windows_frame(
        values,
        [(windows[w].g, w, windows[w].lo, windows[w].hi, cands[w]) for w in wids],
        "cands ARRAY<DOUBLE>",
    )
    percentages = [i / grid for i in range(grid + 1)]
    pieces = (
        _in_window(values, frame)
        .select(
            "wid",
            "value",
            F.expr("size(filter(cands, c -> c < value))").alias("lt"),
            F.expr("size(filter(cands, c -> c <= value))").alias("le"),
        )
        .groupBy("wid", "lt", "le")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.percentile_approx(
                F.when(F.col("lt") == F.col("le"), F.col("value")), percentages, accuracy
            ).alias("q"),
        )
        .collect()
    )
    # piece (lt, le): lt == le == i is the open interval between candidates i-1 and i;
    # lt == i, le == i + 1 holds the values equal to candidate i.
    found: dict[int, dict[tuple[int, int], tuple[int, list[float] | None]]] = {}
    for row in pieces:
        q = [float(v) for v in row["q"]] if row["q"] is not None else None
        found.setdefault(row["wid"], {})[(row["lt"], row["le"])] = (int(row["n"]), q)
    made: dict[tuple[int, int], int] = {}
    for wid, ranks in pending.items():
        w, cs, got = windows[wid], cands[wid], found.get(wid, {})
        order = []
        for i in range(len(cs) + 1):
            order.append((i, i))
            if i < len(cs):
                order.append((i, i + 1))
        for r in ranks:
            below = w.below
            for lt, le in order:
                n, q = got.get((lt, le), (0, None))
                if r <= below + n:
                    break
                below += n
            else:  # the counts must add up to the window's: they are exact
                raise RuntimeError(f"order statistics: rank {r} beyond window {w}")
            if lt != le:
                out[(w.g, r)] = cs[lt]
                continue
            lo = cs[lt - 1] if lt > 0 else w.lo
            hi = cs[lt] if lt < len(cs) else w.hi
            if (wid, lt) not in made:  # two ranks in one piece share its window
                made[(wid, lt)] = len(windows)
                windows[len(windows)] = _Window(w.g, lo, hi, below, n, q)
            at[(w.g, r)] = made[(wid, lt)]
