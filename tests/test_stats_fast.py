"""The shortcuts in methods_clustered (clusters of one trial: a binomial count; no failures or
no successes: P(K = 0) in closed form; rho = 0 without a convolution; memoised bounds) give
the general path's bounds, ranks and verdicts, on random cluster-size histograms including
clusters of size 1, one and two clusters and a count near the exact limit.

The general path is assembled here independently: the convolution of scipy's beta-binomial
pmfs, maximised over the ICC grid, and the bounds found by bisection on it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from netmeasure.evaluate import methods_clustered as mc


def general_tails(p: float, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    n = sum(sizes)
    lows, highs = [], []
    for rho in mc.RHO_GRID:
        pmf = np.array([1.0])
        for m in sizes:
            if rho == 0 or m == 1:
                part = sps.binom.pmf(np.arange(m + 1), m, p)
            else:
                s = (1 - rho) / rho
                part = sps.betabinom.pmf(np.arange(m + 1), m, p * s, (1 - p) * s)
            pmf = np.convolve(pmf, part)
        lows.append(np.cumsum(pmf))
        highs.append(np.cumsum(pmf[::-1])[::-1])
    assert len(lows[0]) == n + 1
    return np.max(lows, axis=0), np.max(highs, axis=0)


def general_bounds(k: int, sizes: list[int], alpha: float) -> tuple[float, float]:
    """Bisection to 1e-13 on the independent tails."""
    n = sum(sizes)

    def root(f: object) -> float:
        assert callable(f)
        lo, hi = 1e-12, 1 - 1e-12
        if f(lo) >= 0:
            return lo
        if f(hi) <= 0:
            return hi
        while hi - lo > 1e-13:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if k == 0 else root(lambda p: general_tails(p, sizes)[1][k] - alpha)
    high = 1.0 if k == n else root(lambda p: alpha - general_tails(p, sizes)[0][k])
    return low, high


def random_cases(seed: int, count: int) -> list[tuple[list[int], int]]:
    rng = np.random.default_rng(seed)
    cases: list[tuple[list[int], int]] = []
    for i in range(count):
        g = int(rng.choice([2, 2, 3, 5, 12, 40]))
        kind = i % 3
        if kind == 0:
            sizes = [1] * g  # clusters of one trial: the binomial shortcut
        elif kind == 1:
            sizes = [int(x) for x in 1 + rng.poisson(0.4, g)]  # mostly ones
        else:
            sizes = [int(x) for x in rng.integers(1, 30, g)]
        n = sum(sizes)
        k = int(rng.choice([0, n, int(rng.integers(0, n + 1)), max(0, n - 1), min(n, 1)]))
        cases.append((sizes, k))
    return cases


@pytest.mark.parametrize(("sizes", "k"), random_cases(10, 24))
def test_fast_paths_give_the_general_bounds_and_verdicts(sizes: list[int], k: int) -> None:
    cs = mc.ClusterSizes.of(sizes)
    n = cs.n
    b = mc.proportion_bounds(float(k), cs, 0.95)
    low, high = general_bounds(k, sizes, 0.05)
    assert b.low is not None and b.high is not None
    # the library's root-finder stops at xtol 1e-10 (rtol 1e-9)
    assert b.low == pytest.approx(low, rel=1e-9, abs=2e-10)
    assert b.high == pytest.approx(high, rel=1e-9, abs=2e-10)
    for p0 in (0.05, 0.5, 0.95, min(max(k / n, 0.01), 0.99)):
        lows, highs = general_tails(p0, sizes)
        assert mc.exceeds(k, cs, p0) == (highs[k] <= 0.05)
        assert mc.falls_short(k, cs, p0) == (lows[k] <= 0.05)
        assert mc.tail_at_least(k, p0, cs) == pytest.approx(highs[k], rel=1e-9, abs=1e-15)
        assert mc.tail_at_most(k, p0, cs) == pytest.approx(lows[k], rel=1e-9, abs=1e-15)
    for q in (0.05, 0.5):
        lows, highs = general_tails(q, sizes)
        above = np.nonzero(highs <= 0.05)[0]
        below = np.nonzero(lows <= 0.05)[0]
        r = int(below.max()) + 1 if len(below) else None
        s = int(above.min()) if len(above) else None
        assert mc.quantile_ranks(cs, q, 0.95) == (r, s)


def test_one_and_two_clusters() -> None:
    assert mc.proportion_bounds(1.0, mc.ClusterSizes.of([1]), 0.95) == mc.CountBounds(
        None, None, mc.METHOD_COUNT
    )
    assert mc.quantile_ranks(mc.ClusterSizes.of([7]), 0.5) == (None, None)
    for sizes, k in (([1, 1], 0), ([1, 1], 1), ([1, 1], 2), ([1, 4], 0), ([3, 4], 7)):
        b = mc.proportion_bounds(float(k), mc.ClusterSizes.of(sizes), 0.95)
        low, high = general_bounds(k, sizes, 0.05)
        assert b.low == pytest.approx(low, rel=1e-9, abs=2e-10)
        assert b.high == pytest.approx(high, rel=1e-9, abs=2e-10)


@pytest.mark.parametrize("k", [0, 3, 1500, 40_000])
def test_huge_n_of_single_trials_is_the_binomial(k: int) -> None:
    """40,000 clusters of one trial (n at the exact limit's scale): the binomial tails,
    checked against scipy's binomial, and the bounds against Clopper-Pearson (beta
    quantiles), which they are for clusters of one trial."""
    n = 40_000
    cs = mc.ClusterSizes.equal(n, 1)
    b = mc.proportion_bounds(float(k), cs, 0.95)
    cp_low = 0.0 if k == 0 else float(sps.beta.ppf(0.05, k, n - k + 1))
    cp_high = 1.0 if k == n else float(sps.beta.ppf(0.95, k + 1, n - k))
    assert b.low == pytest.approx(cp_low, rel=1e-9, abs=2e-10)
    assert b.high == pytest.approx(cp_high, rel=1e-9, abs=2e-10)
    for p0 in (0.01, 0.5, 0.99):
        assert mc.tail_at_least(k, p0, cs) == pytest.approx(
            float(sps.binom.sf(k - 1, n, p0)), rel=1e-9, abs=1e-300
        )


def full_tails(p: float, hist: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The untruncated distribution: scipy's pmfs convolved directly, for every rho."""
    lows, highs = [], []
    for rho in mc.RHO_GRID:
        pmf = np.array([1.0])
        for m, count in hist.items():
            if rho == 0 or m == 1:
                part = sps.binom.pmf(np.arange(m * count + 1), m * count, p)
                pmf = np.convolve(pmf, part)
                continue
            s = (1 - rho) / rho
            part = sps.betabinom.pmf(np.arange(m + 1), m, p * s, (1 - p) * s)
            for _ in range(count):
                pmf = np.convolve(pmf, part)
        lows.append(np.cumsum(pmf))
        highs.append(np.cumsum(pmf[::-1])[::-1])
    return np.max(lows, axis=0), np.max(highs, axis=0)


@pytest.mark.parametrize("p", [0.035, 0.5, 0.965])
@pytest.mark.parametrize(
    "hist", [{1: 3000, 2: 250, 3: 20}, {150: 3, 220: 2, 390: 4}, {7: 1, 1: 1}, {12: 40}]
)
def test_truncated_convolution_is_the_full_one(p: float, hist: dict[int, int]) -> None:
    """The transform is cut where a Chernoff bound puts less than 1e-20 of the mass beyond
    (and p > 0.5 is computed as the mirror image): every tail (to the transform's rounding,
    1e-12), verdict and rank as the full
    convolution's."""
    cs = mc.ClusterSizes.from_histogram(hist)
    lows, highs = full_tails(p, hist)
    for k in range(cs.n + 1):
        assert mc.tail_at_most(k, p, cs) == pytest.approx(lows[k], rel=1e-9, abs=1e-12)
        assert mc.tail_at_least(k, p, cs) == pytest.approx(highs[k], rel=1e-9, abs=1e-12)
    above = np.nonzero(highs <= 0.05)[0]
    below = np.nonzero(lows <= 0.05)[0]
    assert mc.pass_region(cs, p) == (
        int(above.min()) if len(above) else None,
        int(below.max()) if len(below) else None,
    )


# -- the vectorised pmfs, the truncated sums and the root-finder on issue 9's group shapes ----

SHAPES = {
    # a 10 M crowd group in miniature: mostly clusters of one sample, some of 2-3 (polar powers)
    "crowd": {1: 1200, 2: 200, 3: 40},
    # a fleet: many distinct large sizes, one to three clusters each (exact integer powers)
    "fleet": {150: 2, 171: 1, 199: 3, 230: 1, 262: 2, 301: 1},
    # tiny: two or three clusters, and ones below the polar threshold
    "tiny": {2: 1, 3: 1},
    "tiny-ones": {1: 2, 2: 1},
    # equal sizes, just below and at the polar threshold (63, 64 clusters) and far above
    "equal-63": {4: 63},
    "equal-64": {4: 64},
    "equal-300": {2: 300},
}


@pytest.mark.parametrize("m", [1, 2, 3, 17, 400, 3000])
@pytest.mark.parametrize("p", [1e-9, 0.035, 0.5])
def test_vectorised_pmfs_are_scipys_beta_binomials(m: int, p: float) -> None:
    """The ratio recurrence in logs gives scipy's beta-binomial pmf for every size in one
    call (and does not underflow at 3,000 trials with a small rho)."""
    rhos = np.array([0.001, 0.1, 0.3, 0.5])
    sizes = (1, m) if m > 1 else (1,)
    got = mc._bb_pmfs(mc._size_grid(sizes), p, rhos)
    for i, rho in enumerate(rhos):
        s = (1 - rho) / rho
        for j, size in enumerate(sizes):
            want = sps.betabinom.pmf(np.arange(size + 1), size, p * s, (1 - p) * s)
            assert got[i, j, : size + 1] == pytest.approx(want, rel=1e-9, abs=1e-300)
            assert not got[i, j, size + 1 :].any()


@pytest.mark.parametrize("p", [1e-6, 0.035, 0.3, 0.5, 0.965])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_tail_of_every_shape_is_the_full_convolutions(shape: str, p: float) -> None:
    """Every k: the slice sums over the truncated pmf (both tails direct, p > 1/2 mirrored),
    the quantile ranks by bisection and the planning median, against the untruncated
    convolution of scipy's pmfs (to the transform's rounding, 1e-12)."""
    hist = SHAPES[shape]
    cs = mc.ClusterSizes.from_histogram(hist)
    lows, highs = full_tails(p, hist)
    got_low = np.array([mc.tail_at_most(k, p, cs) for k in range(cs.n + 1)])
    got_high = np.array([mc.tail_at_least(k, p, cs) for k in range(cs.n + 1)])
    assert got_low == pytest.approx(lows, rel=1e-9, abs=1e-12)
    assert got_high == pytest.approx(highs, rel=1e-9, abs=1e-12)
    above = np.nonzero(highs <= 0.05)[0]
    below = np.nonzero(lows <= 0.05)[0]
    assert mc.pass_region(cs, p) == (
        int(above.min()) if len(above) else None,
        int(below.max()) if len(below) else None,
    )
    if 0 < p < 1:
        cdf = single_rho_cdf(p, hist, mc.ICC_MAX)
        assert mc._median_count(p, cs) == int(np.searchsorted(cdf, 0.5))


def single_rho_cdf(p: float, hist: dict[int, int], rho: float) -> np.ndarray:
    pmf = np.array([1.0])
    s = (1 - rho) / rho
    for m, count in hist.items():
        part = sps.betabinom.pmf(np.arange(m + 1), m, p * s, (1 - p) * s)
        for _ in range(count):
            pmf = np.convolve(pmf, part)
    cdf: np.ndarray = np.minimum(np.cumsum(pmf), 1.0)
    return cdf


@pytest.mark.parametrize(
    ("shape", "k"),
    [
        ("crowd", 55),
        ("crowd", 1640),
        ("fleet", 40),
        ("fleet", 1100),
        ("tiny", 1),
        ("equal-64", 9),
        ("equal-300", 0),
        ("equal-300", 590),
        ("tiny-ones", 3),
    ],
)
def test_bounds_on_the_shapes_are_the_independent_roots(shape: str, k: int) -> None:
    """The root-finder on the normal-quantile scale, bracketed from a twentieth of the
    worst-case SE, finds the independent bisection's bounds (to its 1e-10 tolerance)."""
    hist = SHAPES[shape]
    cs = mc.ClusterSizes.from_histogram(hist)
    b = mc.proportion_bounds.__wrapped__(float(k), cs, 0.95)

    def root(tail_minus_alpha: object) -> float:
        assert callable(tail_minus_alpha)
        lo, hi = 1e-12, 1 - 1e-12
        if tail_minus_alpha(lo) >= 0:
            return lo
        while hi - lo > 1e-13:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if tail_minus_alpha(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if k == 0 else root(lambda p: full_tails(p, hist)[1][k] - 0.05)
    high = 1.0 if k == cs.n else root(lambda p: 0.05 - full_tails(p, hist)[0][k])
    # the independent roots are within 1e-13; the library's within its 1e-10 (absolute, also
    # near 1: no relative tolerance)
    assert b.low == pytest.approx(low, rel=0, abs=1.01e-10)
    assert b.high == pytest.approx(high, rel=0, abs=1.01e-10)
