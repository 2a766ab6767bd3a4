"""One-sided confidence bounds on plain numbers, in the style of scipy.stats results.

Every function takes sufficient statistics (counts, sums, per-cluster totals), never the
engine or raw tables, so each can be checked against an independent implementation.

Methods and sources
-------------------
- Proportions: Clopper & Pearson (1934), "The use of confidence or fiducial limits
  illustrated in the case of the binomial", Biometrika 26(4):404-413; the exact interval
  ETSI TS 102 250-6 uses for success-ratio KPIs. Beta form: lower = B^-1(alpha; k, n-k+1),
  upper = B^-1(1-alpha; k+1, n-k).
- Clustered proportions: Korn & Graubard (1998), "Confidence intervals for proportions with
  small expected number of positive counts estimated from survey data", Survey Methodology
  24(2):193-201: effective sample size n_eff = n / deff, deff = (cluster-robust variance of
  p) / (p(1-p)/n), floored at 1, with their degrees-of-freedom adjustment, then
  Clopper-Pearson on (p n_eff, n_eff). See proportion_korn_graubard for the choice of
  degrees of freedom and its rule where the design effect cannot be estimated.
- Means: Student's t; with clusters, the cluster-robust (CR1-style, G/(G-1)) standard error
  with G-1 degrees of freedom (Cameron & Miller 2015, "A practitioner's guide to
  cluster-robust inference", J. Human Resources 50(2)).
- Quantiles: distribution-free order-statistic bounds from binomial ranks (David & Nagaraja
  2003, "Order Statistics", §7.1); with clusters, Woodruff's (1952) method: a Korn-Graubard
  bound on the proportion below the quantile, mapped back through the empirical
  distribution (Woodruff, JASA 47:635-646; Francisco & Fuller 1991, Ann. Stat. 19:454-469).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import special

#: samples_needed beyond this is reported as None ("no realistic sample would decide it").
MAX_SAMPLES_NEEDED = 10**9


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence ({confidence}) must be in [0.5, 1)")


@dataclass(frozen=True, slots=True)
class Bounds:
    """Two one-sided bounds, each at level c (together a two-sided interval of level 2c-1).

    ``low`` / ``high`` are None where no bound exists (too few samples for a rank bound).
    """

    low: float | None
    high: float | None


def t_quantile(p: float, df: float) -> float:
    """The p quantile of Student's t with df degrees of freedom: scipy.stats.t.ppf's own
    function (special.stdtrit), without its 0.1-1 ms of argument handling per call (a
    national evaluation calls it for every group and mean criterion)."""
    return float(special.stdtrit(df, p))


# -- proportions ----------------------------------------------------------------------------


def clopper_pearson(k: float, n: float, confidence: float = 0.95) -> Bounds:
    """Exact one-sided bounds for a binomial proportion, k successes in n trials.

    ``k`` and ``n`` may be non-integer (an effective sample size); k = 0 gives low = 0 and
    k = n gives high = 1, as the exact interval does.
    """
    _check_confidence(confidence)
    if n <= 0:
        raise ValueError(f"n ({n}) must be positive")
    if not 0 <= k <= n:
        raise ValueError(f"k ({k}) must be between 0 and n ({n})")
    alpha = 1.0 - confidence
    low = 0.0 if k <= 0 else float(special.betaincinv(k, n - k + 1, alpha))
    high = 1.0 if k >= n else float(special.betaincinv(k + 1, n - k, confidence))
    return Bounds(low, high)


@dataclass(frozen=True, slots=True)
class ProportionResult:
    """A proportion k/n with Clopper-Pearson or Korn-Graubard one-sided bounds."""

    k: float
    n: int
    estimate: float
    bounds: Bounds
    n_eff: float
    deff: float
    method: str  # "clopper-pearson" or "korn-graubard"
    confidence: float

    def with_n(self, n: float) -> Bounds:
        """The bounds the same estimate and effective share n_eff / n would give with ``n``."""
        n_eff = n * self.n_eff / self.n
        return clopper_pearson(self.estimate * n_eff, n_eff, self.confidence)


def proportion(k: int, n: int, confidence: float = 0.95) -> ProportionResult:
    """k of n independent trials: Clopper-Pearson."""
    bounds = clopper_pearson(k, n, confidence)
    return ProportionResult(k, n, k / n, bounds, float(n), 1.0, "clopper-pearson", confidence)


def cluster_robust_variance_of_proportion(k_g: Sequence[float], n_g: Sequence[float]) -> float:
    """Var(p) = G/(G-1) * sum_g (k_g - n_g p)^2 / n^2 (the ratio-estimator linearisation)."""
    k = np.asarray(k_g, dtype=float)
    m = np.asarray(n_g, dtype=float)
    n = m.sum()
    g = len(m)
    if g < 2:
        return math.nan
    p = k.sum() / n
    return float(g / (g - 1) * np.sum((k - m * p) ** 2) / n**2)


def proportion_korn_graubard(
    k_g: Sequence[float], n_g: Sequence[float], confidence: float = 0.95
) -> ProportionResult:
    """Korn-Graubard bounds for a proportion from clustered trials. Superseded in the
    evaluation by methods_clustered.proportion_bounds (issue 10); kept as the studies'
    reference (analysis/stats_study.py, tests/reference/old_verdict.py).

    deff = (cluster-robust variance of p) / (p(1-p)/n), floored at 1, and Clopper-Pearson on
    (p n_eff, n_eff) with n_eff = n / deff, times Korn & Graubard's degrees-of-freedom factor
    (t_{n-1} / t_{df})^2 at the bound's level. netmeasure takes df = (clusters in which the
    rarer outcome occurs) - 1, at most G - 1: with failures in a handful of clusters, the
    design effect rests on those clusters alone. Where the rarer outcome occurs in fewer than
    two clusters (all passed, one failure, one cluster) the design effect cannot be estimated,
    and each cluster counts as one observation (n_eff = G). analysis/coverage_study.py checks
    the coverage of this rule by simulation.
    """
    k_arr = np.asarray(k_g, dtype=float)
    n_arr = np.asarray(n_g, dtype=float)
    n = round(float(n_arr.sum()))
    k = float(k_arr.sum())
    if n <= 0:
        raise ValueError("no trials")
    p = k / n
    g = len(n_arr)
    minority = int(min(np.count_nonzero(k_arr > 0), np.count_nonzero(k_arr < n_arr)))
    if minority < 2:
        n_eff = float(g)
        bounds = clopper_pearson(p * n_eff, n_eff, confidence)
        return ProportionResult(
            k, n, p, bounds, n_eff, n / n_eff, "korn-graubard (n_eff = clusters)", confidence
        )
    var = cluster_robust_variance_of_proportion(k_g, n_g)
    deff = max(1.0, var / (p * (1 - p) / n))
    df = max(1, min(g, minority) - 1)
    factor = min(1.0, (t_quantile(confidence, n - 1) / t_quantile(confidence, df)) ** 2)
    n_eff = n / deff * factor
    bounds = clopper_pearson(p * n_eff, n_eff, confidence)
    return ProportionResult(k, n, p, bounds, n_eff, deff, "korn-graubard", confidence)


# -- means ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeanResult:
    n: int
    estimate: float
    se: float
    df: float
    bounds: Bounds
    method: str  # "t" or "t-cluster"
    confidence: float
    clusters: int

    def with_n(self, n: float) -> Bounds:
        """Bounds if ``n`` samples showed the same mean and spread (SE scales as 1/sqrt(n))."""
        if not math.isfinite(self.se):
            return Bounds(None, None)
        se = self.se * math.sqrt(self.n / n)
        # Clustered: more samples from the same clusters keep G - 1 degrees of freedom.
        df = max(1, int(n) - 1) if self.method == "t" else self.df
        t = t_quantile(self.confidence, df)
        return Bounds(self.estimate - t * se, self.estimate + t * se)


def mean_t(n: int, total: float, total_sq: float, confidence: float = 0.95) -> MeanResult:
    """Student t bounds from n, sum(x) and sum(x^2) of independent samples."""
    _check_confidence(confidence)
    if n <= 0:
        raise ValueError("no samples")
    mean = total / n
    if n == 1:
        return MeanResult(1, mean, math.inf, 0, Bounds(None, None), "t", confidence, 1)
    # sum of squares about the mean, guarded against cancellation going negative
    ss = max(0.0, total_sq - n * mean * mean)
    se = math.sqrt(ss / (n - 1)) / math.sqrt(n)
    t = t_quantile(confidence, n - 1)
    return MeanResult(n, mean, se, n - 1, Bounds(mean - t * se, mean + t * se), "t", confidence, n)


def mean_t_cr1(
    n_g: Sequence[float], sum_g: Sequence[float], confidence: float = 0.95
) -> MeanResult:
    """Cluster-robust (CR1) t bounds: SE = sqrt(G/(G-1) * sum_g s_g^2) / n, s_g = sum_g -
    n_g * mean, with G-1 degrees of freedom. One cluster gives no bound. Superseded in the
    evaluation by methods_clustered.mean_cr2 (CR2, Bell-McCaffrey df); kept as the studies'
    reference and checked against R survey (tests/test_r_survey.py)."""
    _check_confidence(confidence)
    m = np.asarray(n_g, dtype=float)
    s = np.asarray(sum_g, dtype=float)
    n = round(float(m.sum()))
    if n <= 0:
        raise ValueError("no samples")
    mean = float(s.sum() / n)
    g = len(m)
    if g < 2:
        return MeanResult(n, mean, math.inf, 0, Bounds(None, None), "t-cluster", confidence, g)
    resid = s - m * mean
    se = math.sqrt(g / (g - 1) * float(np.sum(resid**2))) / n
    t = t_quantile(confidence, g - 1)
    return MeanResult(
        n, mean, se, g - 1, Bounds(mean - t * se, mean + t * se), "t-cluster", confidence, g
    )


# -- quantiles ------------------------------------------------------------------------------


def order_statistic_ranks(
    n: int, q: float, confidence: float = 0.95
) -> tuple[int | None, int | None]:
    """1-based ranks (r, s) with P(X_(r) <= xi_q) >= c and P(X_(s) >= xi_q) >= c.

    r is the largest rank with P(Bin(n, q) >= r) >= c; s the smallest with
    P(Bin(n, q) <= s - 1) >= c. None where no order statistic is a bound at that level.
    """
    _check_confidence(confidence)
    if not 0 < q < 1:
        raise ValueError(f"q ({q}) must be in (0, 1)")
    from scipy import stats as sps  # scipy.stats is slow to import: only when needed

    # P(Bin >= r) = sf(r - 1) is decreasing in r: find the largest r with sf(r-1) >= c.
    r = int(sps.binom.ppf(1 - confidence, n, q))  # smallest j with cdf(j) >= 1-c
    while r >= 1 and sps.binom.sf(r - 1, n, q) < confidence:
        r -= 1
    while r + 1 <= n and sps.binom.sf(r, n, q) >= confidence:
        r += 1
    low = r if r >= 1 else None
    s = int(sps.binom.ppf(confidence, n, q)) + 1  # smallest s with cdf(s - 1) >= c
    while s - 1 >= 1 and sps.binom.cdf(s - 2, n, q) >= confidence:
        s -= 1
    high = s if s <= n else None
    return low, high


def quantile_type7(sorted_values: Sequence[float], q: float) -> float:
    """Hyndman & Fan type 7 (numpy's default): linear between X_(floor h), X_(ceil h)."""
    n = len(sorted_values)
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return float(sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo]))


def type7_ranks(n: int, q: float) -> tuple[int, int, float]:
    """1-based ranks (a, b) and weight w with estimate = X_(a) + w (X_(b) - X_(a)).

    h = (n - 1) q in exact rationals (q as its decimal): in floats 100 * 0.29 is
    28.999999999999996 and would pick the wrong rank."""
    h = (n - 1) * Fraction(repr(q))
    lo = math.floor(h)
    return lo + 1, min(lo + 2, n), float(h - lo)


def woodruff_ranks(
    n: int, q: float, deff: float, confidence: float = 0.95
) -> tuple[int | None, int | None]:
    """Ranks bounding the q-quantile of clustered data (Woodruff's method).

    The proportion below the quantile is q; its Korn-Graubard bounds (n_eff = n / deff) are
    mapped back to ranks ceil(n * p_low) and ceil(n * p_high) of the sorted sample.
    Superseded in the evaluation by methods_clustered.quantile_ranks_bb; kept as the studies'
    reference (analysis/stats_study.py).
    """
    n_eff = n / max(1.0, deff)
    b = clopper_pearson(q * n_eff, n_eff, confidence)
    assert b.low is not None and b.high is not None
    r = math.ceil(n * b.low) if b.low > 0 else 0
    s = math.ceil(n * b.high)
    return (r if r >= 1 else None), (s if s <= n and b.high < 1 else None)


# -- samples needed -------------------------------------------------------------------------


def smallest_n(decides: object, n_now: int) -> int | None:
    """The smallest n > n_now for which ``decides(n)`` is true, by doubling then bisection;
    None when not even MAX_SAMPLES_NEEDED would do."""
    assert callable(decides)
    hi = max(n_now + 1, 2)
    while not decides(hi):
        if hi >= MAX_SAMPLES_NEEDED:
            return None
        hi = min(hi * 2, MAX_SAMPLES_NEEDED)
    lo = n_now  # decides(lo) is false (else the criterion would not be inconclusive)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if decides(mid):
            hi = mid
        else:
            lo = mid
    return hi


def samples_needed_quantile_independent(
    k_below: float, n: int, q: float, confidence: float = 0.95
) -> int | None:
    """samples_needed for a quantile of independent samples, by duality: xi_q >= t exactly
    when the share below t is <= q, so the n at which the same share below t would have a
    Clopper-Pearson bound on the far side of q (the order-statistic bound's own criterion)."""
    p_hat = Fraction(k_below).limit_denominator(10**12) / n
    target = Fraction(repr(q))
    if p_hat == target:
        return None
    above = p_hat > target

    def decides(m: int) -> bool:
        # the median campaign's count (a binomial median is the mean rounded either way),
        # rounded towards q so that at least half of campaigns of this size decide
        kk = p_hat * m
        k = math.floor(kk) if above else math.ceil(kk)
        b = clopper_pearson(k, m, confidence)
        return b.low is not None and b.low > q if above else b.high is not None and b.high < q

    return smallest_n(decides, n)
