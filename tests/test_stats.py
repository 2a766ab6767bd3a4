# mypy: disable-error-code="arg-type"
# (numpy arrays go where the methods declare Sequence[float]; they take any array-like)
"""Every bound against an independent implementation (scipy, statsmodels, numpy) to 1e-9
relative, including the edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from conftest import num
from netmeasure.evaluate import stats

REL = 1e-9


def approx(x: float) -> object:
    return pytest.approx(x, rel=REL, abs=1e-12)


@pytest.mark.parametrize(
    ("k", "n"),
    [(0, 10), (10, 10), (1, 1), (0, 1), (1440, 1500), (3, 7), (99, 100), (50, 100), (1, 1500)],
)
@pytest.mark.parametrize("c", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_statsmodels_and_scipy(k: int, n: int, c: float) -> None:
    b = stats.clopper_pearson(k, n, c)
    lo, hi = proportion_confint(k, n, alpha=2 * (1 - c), method="beta")
    assert b.low == approx(lo) and b.high == approx(hi)
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=2 * c - 1, method="exact")
    assert b.low == approx(ci.low) and b.high == approx(ci.high)


def test_clopper_pearson_edges() -> None:
    assert stats.clopper_pearson(0, 50).low == 0.0
    assert stats.clopper_pearson(50, 50).high == 1.0
    # The documented sample sizes: 1,440 of 1,500 is just enough to claim 95 % at 95 %.
    assert num(stats.clopper_pearson(1440, 1500).low) >= 0.95
    assert num(stats.clopper_pearson(1439, 1500).low) < 0.95
    with pytest.raises(ValueError, match="must be between 0 and n"):
        stats.clopper_pearson(11, 10)


def test_mean_t_matches_statsmodels() -> None:
    rng = np.random.default_rng(1)
    x = rng.gamma(4, 30e6, size=250)
    r = stats.mean_t(len(x), float(x.sum()), float((x * x).sum()), 0.95)
    lo, hi = DescrStatsW(x).tconfint_mean(alpha=0.10)
    assert r.bounds.low == approx(lo) and r.bounds.high == approx(hi)
    assert r.estimate == approx(x.mean()) and r.df == 249


def test_mean_t_one_sample_has_no_bound() -> None:
    r = stats.mean_t(1, 5.0, 25.0)
    assert r.bounds == stats.Bounds(None, None) and r.estimate == 5.0


def test_mean_t_constant_data() -> None:
    r = stats.mean_t(4, 40.0, 400.0)
    assert r.bounds.low == r.bounds.high == 10.0


def clustered_data(seed: int, g: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 40, size=g)
    groups = np.repeat(np.arange(g), sizes)
    effect = rng.normal(0, 20e6, size=g)[groups]
    return 150e6 + effect + rng.normal(0, 30e6, size=len(groups)), groups


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clustered_mean_matches_statsmodels_cluster_robust_ols(seed: int) -> None:
    y, groups = clustered_data(seed)
    n_g = np.bincount(groups)
    s_g = np.bincount(groups, weights=y)
    r = stats.mean_t_cr1(n_g, s_g, 0.95)
    fit = OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    lo, hi = fit.conf_int(alpha=0.10)[0]
    assert r.se == approx(float(fit.bse[0]))
    assert r.bounds.low == approx(lo) and r.bounds.high == approx(hi)
    assert r.df == len(n_g) - 1


def test_single_cluster_gives_no_mean_bound() -> None:
    r = stats.mean_t_cr1([10], [1000.0])
    assert r.bounds == stats.Bounds(None, None) and r.estimate == 100.0


@pytest.mark.parametrize("seed", [4, 5])
def test_korn_graubard_matches_an_independent_assembly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = 15
    sizes = rng.integers(10, 60, size=g)
    groups = np.repeat(np.arange(g), sizes)
    p_g = np.clip(rng.normal(0.93, 0.05, size=g), 0, 1)[groups]
    x = (rng.random(len(groups)) < p_g).astype(float)
    k_g = np.bincount(groups, weights=x)
    n_g = np.bincount(groups)
    r = stats.proportion_korn_graubard(k_g, n_g, 0.95)
    # deff from statsmodels' cluster-robust variance of the mean of the indicator
    fit = OLS(x, np.ones_like(x)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    p, n = x.mean(), len(x)
    deff = max(1.0, float(fit.bse[0]) ** 2 / (p * (1 - p) / n))
    failing = len(set(groups[x == 0]))  # clusters with the rarer outcome
    df = min(g, failing) - 1
    factor = min(1.0, (sps.t.ppf(0.95, n - 1) / sps.t.ppf(0.95, df)) ** 2)
    n_eff = n / deff * factor
    lo, hi = proportion_confint(p * n_eff, n_eff, alpha=0.10, method="beta")
    assert r.deff == approx(deff) and r.estimate == approx(p)
    assert r.bounds.low == approx(lo) and r.bounds.high == approx(hi)
    assert r.method == "korn-graubard" and failing >= 2


def test_korn_graubard_edges() -> None:
    # all passed: the design effect cannot be estimated, each cluster counts once
    all_ok = stats.proportion_korn_graubard([10, 20], [10, 20])
    assert all_ok.estimate == 1.0 and all_ok.bounds.high == 1.0 and all_ok.n_eff == 2
    assert all_ok.bounds.low == approx(proportion_confint(2, 2, 0.1, "beta")[0])
    all_failed = stats.proportion_korn_graubard([0, 0, 0], [5, 5, 5])
    assert all_failed.estimate == 0.0 and all_failed.bounds.low == 0.0
    assert all_failed.n_eff == 3
    one = stats.proportion_korn_graubard([7], [10])
    assert one.method == "korn-graubard (n_eff = clusters)" and one.n_eff == 1
    assert one.bounds.low == approx(proportion_confint(0.7, 1, 0.1, "beta")[0])
    one_failure = stats.proportion_korn_graubard([10, 9, 10, 10], [10, 10, 10, 10])
    assert one_failure.n_eff == 4
    # deff is floored at 1: clusters more alike than chance do not narrow the bounds
    even = stats.proportion_korn_graubard([9, 9, 9, 9], [10, 10, 10, 10])
    assert even.deff == 1.0


@pytest.mark.parametrize("n", [1, 2, 10, 59, 100, 300, 1500])
@pytest.mark.parametrize("q", [0.05, 0.5, 0.9])
@pytest.mark.parametrize("c", [0.9, 0.95])
def test_order_statistic_ranks_against_the_binomial(n: int, q: float, c: float) -> None:
    r, s = stats.order_statistic_ranks(n, q, c)
    # brute force over every rank with scipy's binomial
    lows = [j for j in range(1, n + 1) if sps.binom.sf(j - 1, n, q) >= c]
    highs = [j for j in range(1, n + 1) if sps.binom.cdf(j - 1, n, q) >= c]
    assert r == (max(lows) if lows else None)
    assert s == (min(highs) if highs else None)


def test_order_statistic_ranks_documented_values() -> None:
    # standards-and-methods.md: the lower bound on p5 is X(1) at n=59, X(2) at 100,
    # X(9) at 300 and X(61) at 1500.
    assert [stats.order_statistic_ranks(n, 0.05)[0] for n in (59, 100, 300, 1500)] == [1, 2, 9, 61]
    assert stats.order_statistic_ranks(58, 0.05)[0] is None


@pytest.mark.parametrize("n", [1, 2, 7, 100])
@pytest.mark.parametrize("q", [0.05, 0.5, 0.95])
def test_type7_matches_numpy(n: int, q: float) -> None:
    x = np.sort(np.random.default_rng(n).normal(size=n))
    assert stats.quantile_type7(x, q) == approx(float(np.percentile(x, 100 * q)))
    a, b, w = stats.type7_ranks(n, q)
    assert x[a - 1] + w * (x[b - 1] - x[a - 1]) == approx(float(np.percentile(x, 100 * q)))


def test_smallest_n() -> None:
    assert stats.smallest_n(lambda m: m >= 1234, 100) == 1234
    assert stats.smallest_n(lambda m: False, 100) is None
