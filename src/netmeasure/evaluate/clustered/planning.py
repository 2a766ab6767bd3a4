"""Samples needed: the smallest sample that would decide a criterion.

Part of the clustered methods (netmeasure.evaluate.clustered: sources in its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache

from netmeasure.evaluate.clustered.counts import exceeds, falls_short
from netmeasure.evaluate.clustered.design import PLANNING_EXACT_UP_TO, ClusterSizes
from netmeasure.evaluate.clustered.icc import _median_count
from netmeasure.evaluate.clustered.means import mean_bounds_at
from netmeasure.evaluate.clustered.quantiles import berger_boos_applies, quantile_gamma

# -- samples needed -------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # pure; groups with the same sizes and count repeat it
def samples_needed_count(
    k: float, sizes: ClusterSizes, p0: float, confidence: float = 0.95
) -> int | None:
    """The total n, in clusters of this campaign's mean size, at which the same share k / n
    would decide ``p vs p0`` (PASS or FAIL, whichever side the estimate is on); None when the
    estimate is p0 or no realistic campaign would decide it. The count is rounded towards
    p0, so that at the reported n the median campaign decides (checked in the study)."""
    n = sizes.n
    if n <= 0 or sizes.clusters < 1:
        return None
    p_hat = Fraction(k).limit_denominator(10**12) / n
    target = Fraction(repr(p0))
    if p_hat == target:
        return None
    above = p_hat > target
    size = max(1, round(n / sizes.clusters))

    def decides(g: int) -> bool:
        s = ClusterSizes.equal(g, size)
        kk = p_hat * s.n
        # the median campaign's count: the mean rounded towards p0, or further where the
        # most dispersed count distribution allowed is skewed towards p0
        med = _median_count(float(p_hat), s)
        if above:
            return exceeds(min(math.floor(kk), med), s, p0, confidence, PLANNING_EXACT_UP_TO)
        return falls_short(max(math.ceil(kk), med), s, p0, confidence, PLANNING_EXACT_UP_TO)

    limit = max(2, 10**9 // size)
    g = max(sizes.clusters, 1)
    if decides(g):
        return g * size

    def approx_decides(h: int) -> bool:
        # the same test with the normal tails: cheap, and close enough to start from
        s = ClusterSizes.equal(h, size)
        kk = float(p_hat) * s.n
        if above:
            return exceeds(math.floor(kk), s, p0, confidence, exact_up_to=0)
        return falls_short(math.ceil(kk), s, p0, confidence, exact_up_to=0)

    guess = _smallest(approx_decides, g, limit)
    if guess is None:
        return None
    # from the approximation, walk to the exact boundary (decides is monotone in g)
    h = max(guess, g + 1)
    step = 1
    if decides(h):
        while h - step > g and decides(h - step):
            h -= step
            step *= 2
        lo, hi = max(g, h - step), h
    else:
        while not decides(h + step):
            if h + step >= limit:
                return None
            step *= 2
        lo, hi = h + step // 2, h + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decides(mid) else (mid, hi)
    return hi * size


def _smallest(decides: Callable[[int], bool], now: int, limit: int) -> int | None:
    """The smallest g > now with decides(g) (monotone), by doubling then bisection."""
    hi = max(now + 1, 2)
    while not decides(hi):
        if hi >= limit:
            return None
        hi = min(hi * 2, limit)
    lo = now
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decides(mid) else (mid, hi)
    return hi


def samples_needed_mean(
    estimate: float,
    se: float,
    n_now: int,
    clusters_now: int,
    threshold: float,
    confidence: float = 0.95,
) -> int | None:
    """The total n, in clusters of this campaign's mean size, at which the same mean and
    spread would decide ``mean vs threshold``; None at the threshold or with no spread."""
    if not math.isfinite(se) or se <= 0 or estimate == threshold or clusters_now < 1:
        return None
    size = max(1, round(n_now / clusters_now))

    def decides(g: int) -> bool:
        low, high = mean_bounds_at(estimate, se, n_now, g, size, confidence)
        if low is None or high is None:
            return False
        return low > threshold if estimate > threshold else high < threshold

    limit = max(2, 10**9 // size)
    g = max(clusters_now, 1)
    hi = max(g + 1, 2)
    while not decides(hi):
        if hi >= limit:
            return None
        hi = min(hi * 2, limit)
    lo = g
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decides(mid) else (mid, hi)
    return hi * size


def samples_needed_quantile(
    k_below: float, sizes: ClusterSizes, q: float, confidence: float = 0.95
) -> int | None:
    """samples_needed for a clustered quantile, by duality on the share below the threshold:
    the count test at the planned design, assuming the largest dispersion the design allows
    (C_gamma = [0, ICC_MAX]: the Berger-Boos test is then the worst case at level 1 - c -
    gamma). Every dispersion gives a set inside it, so at the reported n the median campaign
    decides whatever its dispersion (checked in the study)."""
    gamma = quantile_gamma(q) if berger_boos_applies(sizes) else 0.0
    level = float(Fraction(repr(confidence)) + Fraction(repr(gamma)))
    return samples_needed_count(k_below, sizes, q, level)
