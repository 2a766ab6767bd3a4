"""Intra-cluster correlation estimates (one-way ANOVA), reported and checked against the design
assumption.

Part of the clustered methods (netmeasure.evaluate.clustered: sources in its docstring).
"""

from __future__ import annotations

from netmeasure.evaluate.clustered.counts import _first
from netmeasure.evaluate.clustered.design import ICC_MAX, PLANNING_EXACT_UP_TO, ClusterSizes
from netmeasure.evaluate.clustered.distribution import tail_at_most

# -- intra-cluster correlation --------------------------------------------------------------


def icc_anova(
    n: float, clusters: int, sum_sq_sizes: float, ss_between: float, ss_within: float
) -> float | None:
    """One-way ANOVA estimator (MSB - MSW) / (MSB + (m0 - 1) MSW), m0 = (n - sum n_g^2 / n) /
    (G - 1). None where it cannot be estimated (fewer than 2 clusters, or no spread)."""
    if clusters < 2 or n - clusters <= 0:
        return None
    msb = ss_between / (clusters - 1)
    msw = ss_within / (n - clusters)
    m0 = (n - sum_sq_sizes / n) / (clusters - 1)
    denom = msb + (m0 - 1) * msw
    if denom <= 0:
        return None
    return (msb - msw) / denom


def icc_binary(
    k: float, n: float, clusters: int, sum_sq_sizes: float, ss_between: float
) -> float | None:
    """ICC of a 0/1 outcome from k, n, G, sum n_g^2 and the between-cluster sum of squares
    sum_g (k_g - n_g k/n)^2 / n_g (computed about the mean: no cancellation)."""
    if n <= 0:
        return None
    ssw = k - k * k / n - ss_between
    return icc_anova(n, clusters, sum_sq_sizes, ss_between, ssw)


def icc_values(
    n: float,
    total: float,
    total_sq: float,
    clusters: int,
    sum_sq_sizes: float,
    ss_between: float,
) -> float | None:
    """ICC of a measured value from n, sum x, sum x^2, G, sum n_g^2 and the between-cluster
    sum of squares sum_g (S_g - n_g xbar)^2 / n_g (computed about the mean)."""
    if n <= 0:
        return None
    ssw = total_sq - total * total / n - ss_between
    return icc_anova(n, clusters, sum_sq_sizes, ss_between, ssw)


def _median_count(p: float, sizes: ClusterSizes) -> int:
    """The median of the count at ICC_MAX (the mean's nearest integer above EXACT_UP_TO)."""
    if sizes.n > PLANNING_EXACT_UP_TO or p <= 0 or p >= 1:
        return round(p * sizes.n)
    # the smallest k with P(K <= k) >= 1/2 (the cdf is monotone: bisection)
    return min(_first(lambda k: tail_at_most(k, p, sizes, (ICC_MAX,)) >= 0.5, sizes.n), sizes.n)
