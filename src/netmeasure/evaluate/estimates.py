"""Statistics of one criterion in one group, from its sums (sums.CriterionSums).

The methods are stats.py's; where a stats.py function takes per-cluster values
(``mean_t_clustered``, ``proportion_clustered``), the same operations are done here on the
sums the engine computed from those values (the cluster-robust sum of squares and the
clusters holding each outcome), and their results are stats.py's result types.
tests/test_evaluate_sums.py checks each against the stats.py function on the per-cluster
values, to 1e-12 relative.
"""

from __future__ import annotations

import math

from scipy import stats as sps

from netmeasure.evaluate import stats
from netmeasure.evaluate.sums import CriterionSums


def mean(s: CriterionSums, confidence: float, *, clustered: bool) -> stats.MeanResult:
    """Student t (independent samples) or cluster-robust t (stats.mean_t_clustered)."""
    if not clustered:
        return stats.mean_t(s.n, s.total, s.total_sq, confidence)
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence ({confidence}) must be in [0.5, 1)")
    n = s.n
    if n <= 0:
        raise ValueError("no samples")
    est = float(s.total / n)
    g = s.clusters
    if g < 2:
        return stats.MeanResult(
            n, est, math.inf, 0, stats.Bounds(None, None), "t-cluster", confidence, g
        )
    se = math.sqrt(g / (g - 1) * s.cluster_ss) / n
    t = float(sps.t.ppf(confidence, g - 1))
    return stats.MeanResult(
        n, est, se, g - 1, stats.Bounds(est - t * se, est + t * se), "t-cluster", confidence, g
    )


def proportion(s: CriterionSums, confidence: float, *, clustered: bool) -> stats.ProportionResult:
    """Clopper-Pearson (independent trials) or Korn-Graubard (stats.proportion_clustered)."""
    if not clustered:
        return stats.proportion(int(s.total), s.n, confidence)
    return proportion_clustered(s, confidence)


def proportion_clustered(s: CriterionSums, confidence: float) -> stats.ProportionResult:
    """stats.proportion_clustered on the sums of its per-cluster values."""
    n = s.n
    k = float(s.total)
    if n <= 0:
        raise ValueError("no trials")
    p = k / n
    g = s.clusters
    minority = min(s.clusters_with_success, s.clusters_with_failure)
    if minority < 2:
        n_eff = float(g)
        bounds = stats.clopper_pearson(p * n_eff, n_eff, confidence)
        return stats.ProportionResult(
            k, n, p, bounds, n_eff, n / n_eff, "korn-graubard (n_eff = clusters)", confidence
        )
    var = g / (g - 1) * s.cluster_ss / float(n) ** 2 if g >= 2 else math.nan
    deff = max(1.0, var / (p * (1 - p) / n))
    df = max(1, min(g, minority) - 1)
    factor = min(1.0, (float(sps.t.ppf(confidence, n - 1)) / float(sps.t.ppf(confidence, df))) ** 2)
    n_eff = n / deff * factor
    bounds = stats.clopper_pearson(p * n_eff, n_eff, confidence)
    return stats.ProportionResult(k, n, p, bounds, n_eff, deff, "korn-graubard", confidence)


def quantile_bound_ranks(
    s: CriterionSums, q: float, confidence: float, *, clustered: bool
) -> tuple[int | None, int | None]:
    """Ranks of the order statistics bounding the q-quantile: binomial ranks, or Woodruff's
    with the design effect of the share below the threshold (one cluster: deff = 1)."""
    if not clustered:
        return stats.order_statistic_ranks(s.n, q, confidence)
    deff = 1.0
    if s.clusters >= 2:
        deff = proportion_clustered(s, confidence).deff
    return stats.woodruff_ranks(s.n, q, deff, confidence)


def needed_ranks(s: CriterionSums, q: float, confidence: float, *, clustered: bool) -> set[int]:
    """Every rank a median / percentile criterion reads: the estimate's and the bounds'."""
    if s.n == 0:
        return set()
    a, b, _ = stats.type7_ranks(s.n, q)
    lo, hi = quantile_bound_ranks(s, q, confidence, clustered=clustered)
    return {r for r in (a, b, lo, hi) if r is not None}
