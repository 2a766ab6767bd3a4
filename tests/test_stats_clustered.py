# mypy: disable-error-code="arg-type"
# (numpy arrays go where the methods declare Sequence[float]; they take any array-like)
"""netmeasure's clustered methods (methods_clustered.py) against independent assemblies:
brute-force convolution with scipy's beta-binomial, matrix formulas, Monte Carlo, and the
independent-sample methods they reduce to."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.proportion import proportion_confint

from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate import stats


def brute_cdf(p: float, sizes: list[int], rho: float) -> np.ndarray:
    pmf = np.array([1.0])
    for m in sizes:
        if rho == 0:
            part = sps.binom.pmf(np.arange(m + 1), m, p)
        else:
            s = (1 - rho) / rho
            part = sps.betabinom.pmf(np.arange(m + 1), m, p * s, (1 - p) * s)
        pmf = np.convolve(pmf, part)
    return np.cumsum(pmf)


@pytest.mark.parametrize("p", [0.05, 0.5, 0.95])
@pytest.mark.parametrize("rho", [0.0, 0.1, 0.5])
def test_count_distribution_is_the_beta_binomial_convolution(p: float, rho: float) -> None:
    sizes = [3, 7, 7, 12, 25, 1]
    cs = mc.ClusterSizes.of(sizes)
    cdf = brute_cdf(p, sizes, rho)
    n = sum(sizes)
    for k in range(n + 1):
        assert mc.tail_at_most(k, p, cs, (rho,)) == pytest.approx(cdf[k], abs=1e-12)
        upper = 1 - (cdf[k - 1] if k > 0 else 0.0)
        assert mc.tail_at_least(k, p, cs, (rho,)) == pytest.approx(upper, abs=1e-12)


def test_worst_case_is_the_maximum_over_a_fine_grid_where_it_decides() -> None:
    """The 6-point grid of ICCs finds the supremum over [0, 0.5] at every count the tests
    decide (checked on a 101-point grid)."""
    fine = tuple(np.linspace(0, mc.ICC_MAX, 101))
    cases = [
        (mc.ClusterSizes.equal(g, m), p)
        for g, m, p in ((20, 25, 0.95), (60, 5, 0.05), (10, 25, 0.5), (150, 25, 0.95), (5, 5, 0.9))
    ]
    cases.append((mc.ClusterSizes.of([3, 8, 8, 25, 40, 40, 12] * 4), 0.95))
    for cs, p in cases:
        above, below = mc.pass_region(cs, p)
        if above is not None:
            assert mc.tail_at_least(above, p, cs, fine) <= 0.05 + 1e-12
        if below is not None:
            assert mc.tail_at_most(below, p, cs, fine) <= 0.05 + 1e-12


@pytest.mark.parametrize(("k", "n"), [(0, 20), (20, 20), (17, 20), (90, 100), (1, 50)])
def test_clusters_of_one_are_clopper_pearson(k: int, n: int) -> None:
    """A cluster of one sample is a Bernoulli whatever the ICC: the bounds are Clopper-Pearson."""
    b = mc.proportion_bounds(k, mc.ClusterSizes.equal(n, 1), 0.95)
    lo, hi = proportion_confint(k, n, alpha=0.10, method="beta")
    assert b.low == pytest.approx(lo, abs=1e-9) and b.high == pytest.approx(hi, abs=1e-9)


@pytest.mark.parametrize("n", [5, 20, 59, 100, 300, 1500])
@pytest.mark.parametrize("q", [0.05, 0.5, 0.95])
def test_quantile_ranks_of_clusters_of_one_are_order_statistics(n: int, q: float) -> None:
    assert mc.quantile_ranks(mc.ClusterSizes.equal(n, 1), q) == stats.order_statistic_ranks(n, q)


def test_exact_bounds_only_where_they_exist() -> None:
    # a median needs 5 samples, a 5th percentile 59, for a 95 % lower bound
    assert mc.quantile_ranks(mc.ClusterSizes.equal(4, 1), 0.5)[0] is None
    assert mc.quantile_ranks(mc.ClusterSizes.equal(5, 1), 0.5)[0] == 1
    assert mc.quantile_ranks(mc.ClusterSizes.equal(58, 1), 0.05)[0] is None
    assert mc.quantile_ranks(mc.ClusterSizes.equal(59, 1), 0.05)[0] == 1


def test_one_cluster_gives_no_bound() -> None:
    one = mc.ClusterSizes.of([500])
    assert mc.proportion_bounds(480, one) == mc.CountBounds(None, None, mc.METHOD_COUNT)
    assert mc.quantile_ranks(one, 0.05) == (None, None)
    assert mc.pass_region(one, 0.95) == (None, None)
    assert not mc.exceeds(500, one, 0.5) and not mc.falls_short(0, one, 0.5)
    r = mc.mean_cr2(mc.MeanSums.of([500], [5000.0]))
    assert r.low is None and r.high is None and r.estimate == 10.0


def test_size_by_monte_carlo() -> None:
    """At a true share of 0.95 and ICC 0.5 (the worst allowed), the test's PASS rate in
    20,000 simulated campaigns of 20 x 25 is at most its exact worst-case size (<= 5 %)."""
    rng = np.random.default_rng(3)
    g, m, p, rho = 20, 25, 0.95, 0.5
    s = (1 - rho) / rho
    k = rng.binomial(m, rng.beta(p * s, (1 - p) * s, size=(20_000, g))).sum(1)
    cs = mc.ClusterSizes.equal(g, m)
    above, _ = mc.pass_region(cs, p)
    assert above is not None
    exact = mc.tail_at_least(above, p, cs, (rho,))
    rate = float(np.mean(k >= above))
    assert exact <= 0.05
    assert abs(rate - exact) < 4 * math.sqrt(exact * (1 - exact) / len(k)) + 1e-3


def test_bounds_invert_the_test() -> None:
    cs = mc.ClusterSizes.of([25] * 30 + [10] * 10)
    b = mc.proportion_bounds(830, cs)
    assert b.low is not None and b.high is not None
    assert mc.exceeds(830, cs, b.low - 1e-6) and not mc.exceeds(830, cs, b.low + 1e-6)
    assert mc.falls_short(830, cs, b.high + 1e-6) and not mc.falls_short(830, cs, b.high - 1e-6)


def test_large_campaigns_use_the_normal_tail() -> None:
    cs = mc.ClusterSizes.equal(10_000, 100)
    b = mc.proportion_bounds(990_000, cs)
    assert b.low is not None and b.high is not None and b.low < 0.99 < b.high
    assert b.high - b.low < 0.01


def cr2_by_matrices(y: np.ndarray, cl: np.ndarray) -> tuple[float, float]:
    """CR2 SE and Bell-McCaffrey df written out with matrices (Imbens & Kolesar 2016, eq. 7
    and the Satterthwaite df under working independence)."""
    n = len(y)
    e = y - y.mean()
    meat = 0.0
    groups = np.unique(cl)
    rows = []
    for gid in groups:
        idx = cl == gid
        ng = int(idx.sum())
        vals, vecs = np.linalg.eigh(np.eye(ng) - np.full((ng, ng), 1 / n))
        a = vecs @ np.diag(vals**-0.5) @ vecs.T
        meat += float(np.ones(ng) @ a @ e[idx]) ** 2
        # the row u_g with V = sum_g (u_g y)^2: u_g = (1/n) 1' A_g (I - H)_{g, .}
        ih = -np.full((ng, n), 1 / n)
        ih[:, np.nonzero(idx)[0]] += np.eye(ng)
        rows.append(np.ones(ng) @ a @ ih / n)
    u = np.array(rows)
    gram = u @ u.T
    df = float(np.trace(gram) ** 2 / np.sum(gram**2))
    return math.sqrt(meat) / n, df


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cr2_and_bell_mccaffrey_match_the_matrix_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 40, size=9)
    cl = np.repeat(np.arange(9), sizes)
    y = rng.normal(size=9)[cl] + rng.normal(size=len(cl))
    res = mc.mean_cr2(mc.MeanSums.of(np.bincount(cl), np.bincount(cl, weights=y)), 0.95)
    se, df = cr2_by_matrices(y, cl)
    assert res.se == pytest.approx(se, rel=1e-9)
    assert res.df == pytest.approx(df, rel=1e-9)
    t = sps.t.ppf(0.95, df)
    assert res.low == pytest.approx(y.mean() - t * se, rel=1e-9)


def test_cr2_with_equal_clusters_is_cr1_with_g_minus_1_df() -> None:
    rng = np.random.default_rng(5)
    cl = np.repeat(np.arange(6), 10)
    y = rng.normal(size=6)[cl] + rng.normal(size=60)
    res = mc.mean_cr2(mc.MeanSums.of(np.bincount(cl), np.bincount(cl, weights=y)), 0.95)
    fit = OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": cl}, use_t=True)
    assert res.df == pytest.approx(5, rel=1e-12)
    assert res.se == pytest.approx(float(fit.bse[0]), rel=1e-9)


@pytest.mark.parametrize(("g", "m"), [(2, 5), (7, 25), (150, 3)])
def test_bell_mccaffrey_df_of_equal_clusters(g: int, m: int) -> None:
    s = mc.MeanSums.of([m] * g, [1.0] * g)
    df = mc.bell_mccaffrey_df(s.n, s.sum_sq_sizes, s.w_sizes_sq, s.w2_sizes_4)
    assert df == pytest.approx(g - 1, rel=1e-12) and mc.bell_mccaffrey_df_equal(g, m) == g - 1


def test_samples_needed_mean() -> None:
    n = mc.samples_needed_mean(0.1, 0.2, 125, 5, 0.0, 0.95)
    assert n is not None and n % 25 == 0
    g = n // 25
    low, _ = mc.mean_bounds_at(0.1, 0.2, 125, g, 25, 0.95)
    low_before, _ = mc.mean_bounds_at(0.1, 0.2, 125, g - 1, 25, 0.95)
    assert low is not None and low > 0 and low_before is not None and low_before <= 0
    assert mc.samples_needed_mean(0.0, 0.2, 125, 5, 0.0) is None


def anova_icc(y: np.ndarray, cl: np.ndarray) -> float:
    groups = np.unique(cl)
    g, n = len(groups), len(y)
    n_g = np.array([np.sum(cl == c) for c in groups])
    means = np.array([y[cl == c].mean() for c in groups])
    ssb = float(np.sum(n_g * (means - y.mean()) ** 2))
    ssw = float(sum(np.sum((y[cl == c] - y[cl == c].mean()) ** 2) for c in groups))
    msb, msw = ssb / (g - 1), ssw / (n - g)
    m0 = (n - np.sum(n_g**2) / n) / (g - 1)
    return (msb - msw) / (msb + (m0 - 1) * msw)


def test_icc_estimators_match_the_anova_on_rows() -> None:
    rng = np.random.default_rng(11)
    sizes = rng.integers(5, 30, size=15)
    cl = np.repeat(np.arange(15), sizes)
    y = rng.normal(size=15)[cl] * 0.7 + rng.normal(size=len(cl))
    ok = (y > -0.5).astype(float)
    n_g = np.bincount(cl)
    s_g = np.bincount(cl, weights=y)
    k_g = np.bincount(cl, weights=ok)
    ssb = float(np.sum((s_g - n_g * y.mean()) ** 2 / n_g))
    got = mc.icc_values(len(y), y.sum(), (y * y).sum(), 15, float(np.sum(n_g**2)), ssb)
    assert got == pytest.approx(anova_icc(y, cl), rel=1e-9)
    ssb_b = float(np.sum((k_g - n_g * ok.mean()) ** 2 / n_g))
    got_b = mc.icc_binary(ok.sum(), len(ok), 15, float(np.sum(n_g**2)), ssb_b)
    assert got_b == pytest.approx(anova_icc(ok, cl), rel=1e-9)
    assert mc.icc_binary(5, 10, 1, 100, 0.0) is None


def test_samples_needed_count_is_the_smallest_deciding_campaign() -> None:
    cs = mc.ClusterSizes.equal(10, 25)
    k = 0.99 * cs.n
    n = mc.samples_needed_count(k, cs, 0.95)
    assert n is not None and n % 25 == 0
    g = n // 25

    def decides(g: int) -> bool:
        s = mc.ClusterSizes.equal(g, 25)
        return mc.exceeds(min(math.floor(0.99 * s.n), mc._median_count(0.99, s)), s, 0.95)

    assert decides(g) and not decides(g - 1)
    assert mc.samples_needed_count(0.95 * cs.n, cs, 0.95) is None  # at the threshold


def test_samples_needed_quantile_without_clusters_is_not_n_times_too_large() -> None:
    """The issue's case: 715,063 reported where about 1,431 decides it."""
    n = stats.samples_needed_quantile_independent(0.045 * 1000, 1000, 0.05, 0.95)
    assert n is not None and 5_000 < n < 30_000
    r, _ = stats.order_statistic_ranks(n, 0.05)
    assert r is not None and math.floor(0.045 * n) <= r - 1


def test_exact_rational_comparisons() -> None:
    assert mc.alpha_of(0.95) == 0.05 != 1 - 0.95
    assert mc.alpha_of(0.9) == 0.1
    # an estimate exactly at the threshold decides nothing, however the float rounds
    cs = mc.ClusterSizes.equal(20, 5)
    assert mc.samples_needed_count(95, cs, 0.95) is None
    assert stats.samples_needed_quantile_independent(5, 100, 0.05) is None
    assert Fraction(repr(0.95)) == Fraction(19, 20)
