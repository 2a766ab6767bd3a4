"""Statistics of one criterion in one group, from its sums (sums.CriterionSums).

Without clusters the methods are stats.py's; with clusters, methods_clustered's (docs/
statistics.md), on the sums the engine computed per cluster, with stats.py's result types.
"""

from __future__ import annotations

import math

from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate import stats
from netmeasure.evaluate.sums import CriterionSums


def cluster_sizes(s: CriterionSums) -> mc.ClusterSizes:
    """The clusters of one criterion, as methods_clustered takes them."""
    return mc.ClusterSizes(s.n, s.clusters, round(s.sum_sq_sizes), s.sizes)


def icc(s: CriterionSums, *, values: bool) -> float | None:
    """The estimated intra-cluster correlation of the criterion's outcome: of the value
    (means) or of the 0/1 outcome counted in ``total`` (shares, failure ratios, quantiles)."""
    if values:
        return mc.icc_values(s.n, s.total, s.total_sq, s.clusters, s.sum_sq_sizes, s.between_ss)
    return mc.icc_binary(s.total, s.n, s.clusters, s.sum_sq_sizes, s.between_ss)


def mean(s: CriterionSums, confidence: float, *, clustered: bool) -> stats.MeanResult:
    """Student t (independent samples) or CR2 with Bell-McCaffrey df (methods_clustered)."""
    if not clustered:
        return stats.mean_t(s.n, s.total, s.total_sq, confidence)
    if s.n <= 0:
        raise ValueError("no samples")
    res = mc.mean_cr2(
        mc.MeanSums(s.n, s.total, s.clusters, s.cr2_ss, s.sum_sq_sizes, s.w_sizes_sq, s.w2_sizes_4),
        confidence,
    )
    return stats.MeanResult(
        s.n,
        res.estimate,
        res.se,
        res.df,
        stats.Bounds(res.low, res.high),
        res.method,
        confidence,
        s.clusters,
    )


def skewness_of_mean(s: CriterionSums, *, clustered: bool) -> float | None:
    """kappa, the estimated skewness of the sum behind the mean: Σ (x - x̄)³ / (Σ (x - x̄)²)^1.5
    over the samples (independent; gamma / sqrt(n) with gamma the samples' skewness), or
    Σ_g r_g³ / (Σ_g r_g²)^1.5 over the clusters' residuals (clusters). None where the spread
    is 0 or the sums do not hold it (fewer than 3 samples or clusters)."""
    if clustered:
        m2, m3, units = s.cluster_ss, s.cluster_cube, s.clusters
    else:
        if s.n < 3:
            return None
        xbar = s.total / s.n
        m2 = s.total_sq - s.n * xbar * xbar
        m3 = s.total_cube - 3.0 * xbar * s.total_sq + 2.0 * s.n * xbar**3
        units = s.n
    if units < 3 or not m2 > 0:
        return None
    return float(m3 / m2**1.5)


def skew_widened(res: stats.MeanResult, kappa: float | None) -> stats.Bounds:
    """The mean's bounds widened by the one-term Edgeworth (Cornish-Fisher) correction of the
    studentized mean's quantiles, on the side the skewness moves them out, never narrowed.

    The studentized sum T has P(T <= x) = Phi(x) + kappa (2 x² + 1) phi(x) / 6 + O(1/n)
    (Hall 1992, "The Bootstrap and Edgeworth Expansion", §2.6 and §3.5; Johnson 1978, JASA
    73:536-544, "Modified t tests and confidence intervals for asymmetrical populations";
    for independent, non-identical summands such as cluster totals, the same term with
    kappa the sum's skewness), so its quantiles are c -+ delta, delta = kappa (2 c² + 1) / 6:
    right-skewed data (kappa > 0, as rates are) put the upper bound further out. Only
    widened: at a group-sequential look's small nominal levels (c of 3 to 5) one term of the
    expansion is too rough to take a bound in (docs/statistics.md, "Optional stopping")."""
    b = res.bounds
    if kappa is None or b.low is None or b.high is None or not math.isfinite(res.se):
        return b
    c = (res.estimate - b.low) / res.se if res.se > 0 else 0.0
    delta = kappa * (2.0 * c * c + 1.0) / 6.0
    return stats.Bounds(b.low - res.se * max(0.0, -delta), b.high + res.se * max(0.0, delta))


def proportion(s: CriterionSums, confidence: float, *, clustered: bool) -> stats.ProportionResult:
    """Clopper-Pearson (independent trials) or the worst-case beta-binomial bounds
    (proportion_clustered, below)."""
    if not clustered:
        return stats.proportion(int(s.total), s.n, confidence)
    return proportion_clustered(s, confidence)


def proportion_clustered(s: CriterionSums, confidence: float) -> stats.ProportionResult:
    """The worst-case beta-binomial bounds (methods_clustered.proportion_bounds). deff and
    n_eff are reported from the estimated ICC (Kish: 1 + (Σn_g²/n - 1) ICC), for reading
    only: the bounds do not use them."""
    n = s.n
    if n <= 0:
        raise ValueError("no trials")
    k = float(s.total)
    b = mc.proportion_bounds(k, cluster_sizes(s), confidence)
    rho = icc(s, values=False)
    deff = max(1.0, 1.0 + (s.sum_sq_sizes / n - 1.0) * rho) if rho is not None else math.nan
    return stats.ProportionResult(
        k, n, k / n, stats.Bounds(b.low, b.high), n / deff, deff, b.method, confidence
    )


def quantile_ranks_clustered(s: CriterionSums, q: float, confidence: float) -> mc.QuantileRanks:
    """With clusters: the Berger-Boos ranks from the dispersion at the threshold, or the
    worst-case ranks where the design does not get Berger-Boos (methods_clustered.
    quantile_ranks_bb; one cluster: none)."""
    return mc.quantile_ranks_bb(cluster_sizes(s), q, confidence, s.sum_k_sq, s.sum_size_k)


def quantile_bound_ranks(
    s: CriterionSums, q: float, confidence: float, *, clustered: bool
) -> tuple[int | None, int | None]:
    """Ranks of the order statistics bounding the q-quantile: binomial ranks, or with clusters
    quantile_ranks_clustered's."""
    if not clustered:
        return stats.order_statistic_ranks(s.n, q, confidence)
    res = quantile_ranks_clustered(s, q, confidence)
    return res.low, res.high


def needed_ranks(s: CriterionSums, q: float, confidence: float, *, clustered: bool) -> set[int]:
    """Every rank a median / percentile criterion reads: the estimate's and the bounds'."""
    if s.n == 0:
        return set()
    a, b, _ = stats.type7_ranks(s.n, q)
    lo, hi = quantile_bound_ranks(s, q, confidence, clustered=clustered)
    return {r for r in (a, b, lo, hi) if r is not None}
