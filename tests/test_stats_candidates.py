"""The candidate methods of the statistics study (analysis/candidates.py) against independent
computations: brute-force wild bootstrap with statsmodels' cluster-robust OLS, scipy's
beta-binomial and optimiser, and full enumeration of the dispersion's distribution."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).parents[1] / "analysis"))
import candidates as cand

from netmeasure.evaluate import methods_clustered as mc

sm = pytest.importorskip("statsmodels.api")


def _brute_wild_p(y: np.ndarray, groups: np.ndarray, mu0: float) -> float:
    """Every Webb weight vector, each bootstrap sample refitted by statsmodels' OLS with
    cluster-robust (CR1) standard errors; restricted residuals y - mu0."""
    x = np.ones((len(y), 1))

    def t_of(v: np.ndarray) -> float:
        fit = sm.OLS(v, x).fit(cov_type="cluster", cov_kwds={"groups": groups})
        return float((fit.params[0] - mu0) / fit.bse[0])

    t = t_of(y)
    g = groups.max() + 1
    hits = 0
    total = 0
    for w in itertools.product(cand.WEBB, repeat=g):
        y_star = mu0 + np.asarray(w)[groups] * (y - mu0)
        hits += t_of(y_star) >= t - 1e-12 * abs(t)
        total += 1
    return hits / total


@pytest.mark.parametrize("g", [2, 3])
def test_wild_bootstrap_equals_brute_force_enumeration(g: int) -> None:
    rng = np.random.default_rng(g)
    sizes = rng.integers(2, 6, size=g)  # unequal clusters
    groups = np.repeat(np.arange(g), sizes)
    y = 0.3 + rng.normal(size=g)[groups] + rng.normal(size=len(groups))
    mu0 = 0.1
    u = np.bincount(groups, weights=y - mu0)[None, :]
    weights = cand.webb_weights(g, 6**g, rng)
    assert len({tuple(w) for w in weights}) == 6**g
    p = cand.wild_pvalues(u, sizes.astype(float), weights)[0]
    assert p == pytest.approx(_brute_wild_p(y, groups, mu0), abs=1e-12)


def test_wild_bootstrap_g4_numpy_brute_force_and_random_draws() -> None:
    """G = 4 (1,296 vectors) refitted per vector in numpy; random draws approach it."""
    rng = np.random.default_rng(11)
    sizes = np.array([3, 5, 4, 6])
    groups = np.repeat(np.arange(4), sizes)
    y = rng.normal(size=4)[groups] + rng.normal(size=len(groups)) + 0.5
    u = np.bincount(groups, weights=y)[None, :]

    def t_of(v: np.ndarray) -> float:
        b = v.mean()
        scores = np.bincount(groups, weights=v - b)
        return b / math.sqrt((scores**2).sum())

    t = t_of(y)
    brute = np.mean(
        [
            t_of(np.asarray(w)[groups] * y) >= t - 1e-12 * abs(t)
            for w in itertools.product(cand.WEBB, repeat=4)
        ]
    )
    exact = cand.wild_pvalues(u, sizes.astype(float), cand.webb_weights(4, 6**4, rng))[0]
    assert exact == pytest.approx(brute, abs=1e-12)
    assert 0 < exact < 1
    draws = cand.webb_weights(4, 20_000, rng)
    assert set(np.unique(draws)) == set(cand.WEBB)
    assert abs(draws.mean()) < 0.02 and abs((draws**2).mean() - 1) < 0.02  # E w = 0, E w² = 1
    approx = cand.wild_pvalues(u, sizes.astype(float), draws)[0]
    assert approx == pytest.approx(exact, abs=0.015)


def test_likelihood_table_is_scipy_betabinom() -> None:
    grid = cand.LikelihoodGrid.build(7, 0.05)
    n_rho = len(grid.rhos)
    for i in (3, 60, 120):
        for j in (0, 5, 30):
            p, rho = float(grid.ps[i]), float(grid.rhos[j])
            row = grid.table[i * n_rho + j]
            if rho == 0:
                ref = sps.binom.logpmf(np.arange(8), 7, p)
            else:
                s = (1 - rho) / rho
                ref = sps.betabinom.logpmf(np.arange(8), 7, p * s, (1 - p) * s)
            np.testing.assert_allclose(row, ref, rtol=1e-9, atol=1e-9)


def _loglik(theta: np.ndarray, hist: np.ndarray, m: int, p: float | None) -> float:
    if p is None:
        p = 1 / (1 + math.exp(-theta[0]))
    rho = 1 / (1 + math.exp(-theta[-1]))
    s = (1 - rho) / rho
    return float(hist @ sps.betabinom.logpmf(np.arange(m + 1), m, p * s, (1 - p) * s))


def test_lrt_statistic_against_scipy_optimize() -> None:
    """The grid's maxima are never above the optimiser's and within 0.05 of them; the signed
    root has the optimiser's sign and size."""
    m, p0 = 10, 0.05
    grid = cand.LikelihoodGrid.build(m, p0)
    rng = np.random.default_rng(4)
    for q, rho in ((0.02, 0.2), (0.08, 0.1), (0.05, 0.4)):
        k_g = cand.bb_draws(rng, 1, 30, m, q, rho)
        hist = cand.histograms(k_g, m)[0].astype(float)
        r, idx = grid.fit(hist[None, :])
        best_full = max(
            (
                optimize.minimize(
                    lambda t, h=hist: -_loglik(t, h, m, None), x0, method="Nelder-Mead"
                )
                for x0 in ([-3.0, -2.0], [-2.0, 0.0], [-4.0, -4.0])
            ),
            key=lambda res: -res.fun,
        )
        best_null = optimize.minimize_scalar(
            lambda t, h=hist: -_loglik(np.array([t]), h, m, p0),
            bounds=(-12, 3),
            method="bounded",
        )
        l_hat, l_tilde = -best_full.fun, -best_null.fun
        ll = grid.table @ hist
        assert ll.max() <= l_hat + 1e-7
        assert ll.max() >= l_hat - 0.05
        n_rho = len(grid.rhos)
        i0 = int(np.nonzero(grid.ps == p0)[0][0])
        restricted = ll[i0 * n_rho : (i0 + 1) * n_rho]
        assert restricted.max() <= l_tilde + 1e-7 and restricted.max() >= l_tilde - 0.05
        assert restricted.argmax() == idx[0]
        p_hat = 1 / (1 + math.exp(-best_full.x[0]))
        r_opt = math.copysign(math.sqrt(2 * max(l_hat - l_tilde, 0)), p0 - p_hat)
        assert r[0] == pytest.approx(r_opt, abs=0.15)


def test_lrt_pvalue_counts_the_table_row() -> None:
    table = np.array([[-1.0, 0.0, 1.0, 2.0], [0.5, 0.6, 0.7, 0.8]])
    p = cand.lrt_pvalues(np.array([1.0, 1.0, 0.65]), np.array([0, 1, 1]), table)
    np.testing.assert_allclose(p, [(1 + 2) / 5, 1 / 5, (1 + 2) / 5])


@pytest.mark.parametrize("p0", [0.05, 0.5])
def test_dispersion_cdf_against_enumeration(p0: float) -> None:
    g, m = 3, 4
    disp = cand.Dispersion.build(g, m, p0, rhos=np.array([0.0, 0.2, 0.5]))
    for j, rho in enumerate((0.0, 0.2, 0.5)):
        pmf = np.exp(cand._bb_logpmf(m, p0, rho))
        dist: dict[float, float] = {}
        for ks in itertools.product(range(m + 1), repeat=g):
            d = sum((k - m * p0) ** 2 for k in ks)
            dist[d] = dist.get(d, 0.0) + float(np.prod(pmf[list(ks)]))
        for ks in ((0, 0, 0), (0, 1, 0), (2, 0, 1), (4, 4, 0)):
            d = sum((k - m * p0) ** 2 for k in ks)
            ref = sum(v for key, v in dist.items() if key <= d + 1e-9)
            scaled = min(int(disp.scaled(np.array(ks))), disp.cdf.shape[1] - 1)
            if scaled < disp.cdf.shape[1] - 1:
                assert disp.cdf[j, scaled] == pytest.approx(ref, abs=1e-9)
            else:  # cut where every ρ's cdf exceeds KEEP_ABOVE
                assert ref > cand.KEEP_ABOVE


def test_berger_boos_between_the_binomial_and_the_worst_case() -> None:
    """An over-dispersed dataset keeps the whole ICC range (p = worst case + γ); a dataset with
    one failure spread evenly narrows it, so p is below the worst case but not below the
    binomial tail + γ; the tails are the library's exact ones."""
    g, m, p0, gamma = 20, 25, 0.05, 0.01
    sizes = mc.ClusterSizes.equal(g, m)
    disp = cand.Dispersion.build(g, m, p0)
    tails = cand.worst_tails_upto(sizes, p0)
    assert tails[-1, 10] == pytest.approx(
        mc.tail_at_most(10, p0, sizes, tuple(cand.BB_RHOS)), abs=1e-12
    )
    assert tails[0, 10] == pytest.approx(sps.binom.cdf(10, g * m, p0), rel=1e-9)
    spread = np.zeros((1, g), dtype=int)
    spread[0, :10] = 1  # 10 failures, one per cluster: little dispersion
    lumped = np.zeros((1, g), dtype=int)
    lumped[0, 0] = 10  # all in one cluster: strong dispersion
    p_spread = cand.berger_boos_pvalues(spread, disp, tails, gamma)[0]
    p_lumped = cand.berger_boos_pvalues(lumped, disp, tails, gamma)[0]
    assert p_lumped == pytest.approx(tails[-1, 10] + gamma)
    assert tails[0, 10] + gamma <= p_spread < p_lumped
    assert p_spread <= 0.05 < tails[-1, 10]  # PASS here, where the worst case cannot
