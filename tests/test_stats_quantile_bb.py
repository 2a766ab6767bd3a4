"""The Berger-Boos test of clustered medians and percentiles (issue 10; docs/statistics.md,
"Medians and percentiles (clustered)"): the dispersion's distribution against a direct
enumeration, the confidence set's grid against a finer one, and bounds that never
contradict the verdict over many datasets, equal and unequal cluster sizes."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps

from netmeasure.evaluate import estimates, verdict
from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate.clustered import quantiles
from netmeasure.evaluate.sums import CriterionSums
from netmeasure.standard import Criterion, Op


def direct_dispersion_cdf(
    sizes: mc.ClusterSizes, q: float, rho: float, unit: int, top: int
) -> np.ndarray:
    """P(sum_g floor((b k_g - n_g a)^2 / unit) <= x), x = 0..top, by enumerating the
    convolution cluster by cluster (scipy's beta-binomial pmfs)."""
    f = Fraction(repr(q))
    a, b = f.numerator, f.denominator
    dist = np.zeros(top + 1)
    dist[0] = 1.0
    for m, c in sizes.counts:
        k = np.arange(m + 1)
        if rho > 0:
            s = (1 - rho) / rho
            pm = sps.betabinom.pmf(k, m, q * s, (1 - q) * s)
        else:
            pm = sps.binom.pmf(k, m, q)
        v = ((b * k - m * a) ** 2) // unit
        for _ in range(c):
            new = np.zeros(top + 1)
            for kk in range(m + 1):
                if v[kk] <= top:
                    new[v[kk] :] += pm[kk] * dist[: top + 1 - v[kk]]
            dist = new
    return np.cumsum(dist)


DESIGNS = [
    (mc.ClusterSizes.equal(5, 5), 0.5),
    (mc.ClusterSizes.equal(4, 6), 0.05),
    (mc.ClusterSizes.from_histogram({3: 2, 7: 1, 4: 1}), 0.05),
    (mc.ClusterSizes.from_histogram({2: 3, 9: 2, 5: 1}), 0.5),
    (mc.ClusterSizes.from_histogram({12: 2, 30: 1, 17: 2}), 0.95),
    (mc.ClusterSizes.equal(20, 25), 0.05),  # a lattice unit above 1 (terms rounded down)
]


@pytest.mark.parametrize(("sizes", "q"), DESIGNS)
def test_dispersion_cdf_is_the_direct_convolution(sizes: mc.ClusterSizes, q: float) -> None:
    table = mc._dispersion_cdf(sizes, q, mc.dispersion_max(sizes, q))
    top = table.cdf.shape[1] - 1
    for i, rho in enumerate(mc.BB_RHOS):
        if i % 5 and i != len(mc.BB_RHOS) - 1:
            continue
        ref = direct_dispersion_cdf(sizes, q, rho, table.unit, top)
        assert np.max(np.abs(table.cdf[i] - ref)) < 1e-9, (sizes, q, rho)


def test_rounded_lattice_bounds_the_exact_cdf() -> None:
    """With a lattice unit above 1 the computed P(D <= d) is at least the exact one (a wider,
    valid set): checked against the exact lattice (unit 1) of the same design."""
    sizes, q = mc.ClusterSizes.equal(6, 25), 0.05
    table = mc._dispersion_cdf(sizes, q, mc.dispersion_max(sizes, q))
    assert table.unit > 1
    exact_top = table.unit * table.cdf.shape[1]
    for i in (0, 10, 25):
        exact = direct_dispersion_cdf(sizes, q, mc.BB_RHOS[i], 1, exact_top)
        for x in range(0, table.cdf.shape[1], 7):
            d = x * table.unit + table.unit - 1  # every d with floor(d / unit) = x
            assert table.cdf[i, x] + 1e-12 >= exact[d]


@pytest.mark.parametrize(("sizes", "q"), [*DESIGNS, (mc.ClusterSizes.equal(60, 25), 0.05)])
def test_a_finer_icc_grid_accepts_nothing_beyond_the_widened_set(
    sizes: mc.ClusterSizes, q: float
) -> None:
    """The set's top is widened by one grid step to cover a true ICC between grid points: on
    a grid four times finer, no ICC above the widened top is accepted, at any dispersion of
    the lattice (every span a dispersion can select: the full range and the smallest)."""
    gamma = mc.quantile_gamma(q)
    d_max = mc.dispersion_max(sizes, q)
    fine = np.round(np.linspace(0, mc.ICC_MAX, 4 * (len(mc.BB_RHOS) - 1) + 1), 10)
    for span in sorted({d_max, mc._lattice_span(0, d_max)}):
        tops = mc._icc_tops(sizes, q, gamma, span)
        saved = quantiles.BB_RHOS  # set where _dispersion_cdf reads it
        try:
            quantiles.BB_RHOS = tuple(float(r) for r in fine)
            fine_table = mc._dispersion_cdf(sizes, q, span)
        finally:
            quantiles.BB_RHOS = saved
        assert fine_table.unit == tops.unit
        for x in range(len(tops.tops)):
            accepted = fine[fine_table.cdf[:, x] + mc.DISPERSION_SLACK > gamma]
            top = mc.BB_RHOS[tops.tops[x]]
            assert not len(accepted) or accepted.max() <= top + 1e-12, (span, x)
        # and icc_set_top reads this table at every dispersion whose span it is
        d = span - 1
        if mc._lattice_span(d, d_max) == span:
            assert mc.icc_set_top(sizes, q, d, gamma) == tops.tops[d // tops.unit]


def test_lattice_span_follows_the_dispersion() -> None:
    """The lattice's range shrinks with the observed dispersion (in steps of sqrt 2, never
    below DISPERSION_LATTICE), so its unit stays a small share of d."""
    d_max = 10**7
    for d in (0, 5, 4096, 10**4, 123_456, 10**6, d_max):
        span = mc._lattice_span(d, d_max)
        assert d <= span <= d_max
        assert span <= math.sqrt(2) * max(d, mc.DISPERSION_LATTICE) + 2
    assert mc.icc_set_top(mc.ClusterSizes.equal(20, 25), 0.05, 10**9, 0.01) == len(mc.BB_RHOS) - 1


def test_dispersion_scaled_is_exact() -> None:
    rng = np.random.default_rng(4)
    n_g = rng.integers(5, 46, size=17)
    k_g = rng.binomial(n_g, 0.07)
    sizes = mc.ClusterSizes.of(n_g)
    for q in (0.05, 0.5, 0.95, 0.1):
        d = mc.dispersion_scaled(q, sizes, int(np.sum(k_g**2)), int(np.sum(n_g * k_g)))
        fq = Fraction(repr(q))
        ref = sum((Fraction(int(k)) - int(m) * fq) ** 2 for k, m in zip(k_g, n_g, strict=True))
        assert d == ref * fq.denominator**2
    with pytest.raises(ValueError, match="negative dispersion"):
        mc.dispersion_scaled(0.5, sizes, 0, 10**6)


def test_gamma_per_statistic() -> None:
    assert mc.quantile_gamma(0.5) == mc.GAMMA_MEDIAN == 0.001
    assert mc.quantile_gamma(0.05) == mc.quantile_gamma(0.95) == mc.GAMMA_PERCENTILE == 0.01


def test_every_icc_accepted_is_the_worst_case_at_level_alpha_minus_gamma() -> None:
    """A dispersion beyond the lattice accepts every ICC up to 0.5: the ranks are then the
    worst case's at 1 - c - gamma (the samples_needed assumption)."""
    sizes = mc.ClusterSizes.equal(20, 25)
    for q in (0.5, 0.05):
        gamma = mc.quantile_gamma(q)
        huge = sizes.n**2  # every sample of a cluster below: k_g = n_g
        qr = mc.quantile_ranks_bb(sizes, q, 0.95, huge // 20, huge // 20)
        assert qr.icc_top == mc.ICC_MAX
        level = float(Fraction("0.95") + Fraction(repr(gamma)))
        assert (qr.low, qr.high) == mc.quantile_ranks(sizes, q, level)


def test_designs_outside_berger_boos_keep_the_worst_case() -> None:
    """Crowds (thousands of clusters), small clusters (a device's days), many clusters of a
    fleet: the worst-case ranks, decided from the design alone."""
    for sizes in (
        mc.ClusterSizes.of([1] * 3000 + [2] * 700 + [3] * 100),
        mc.ClusterSizes.of([1] * 200 + [2] * 70 + [3] * 10),
        mc.ClusterSizes.of([2, 1, 3, 1, 2]),
        mc.ClusterSizes.equal(mc.BB_MAX_CLUSTERS + 1, 5),
    ):
        qr = mc.quantile_ranks_bb(sizes, 0.05, 0.95, 30, 35)
        assert qr.method == mc.METHOD_QUANTILE_WORST
        assert (qr.low, qr.high) == mc.quantile_ranks(sizes, 0.05, 0.95)
    assert mc.berger_boos_applies(mc.ClusterSizes.equal(mc.BB_MAX_CLUSTERS, 5))
    assert mc.berger_boos_applies(mc.ClusterSizes.of([4, 6, 5]))
    one = mc.quantile_ranks_bb(mc.ClusterSizes.equal(1, 400), 0.5, 0.95, 0, 0)
    assert (one.low, one.high) == (None, None)


def _criterion(q: float, op: Op, thr: float) -> Criterion:
    return Criterion(
        id="c",
        metrics=("download",),
        statistic="median" if q == 0.5 else "percentile",
        op=op,
        threshold=thr,
        unit="bit/s",
        p=None if q == 0.5 else 100 * q,
    )


class _Std:
    """The two fields criterion_result reads of a standard."""

    class meta:
        confidence = 0.95
        cluster = ("probe_id", "day")


@pytest.mark.parametrize("unequal", [False, True])
def test_bounds_never_contradict_the_verdict(unequal: bool) -> None:
    """Over many simulated datasets (normal values, normal cluster effects, ICC 0-0.5, at
    and around the threshold), through verdict.criterion_result with sums built here: the
    verdict equals the Berger-Boos p-value test at the threshold, computed directly, and
    agrees with the bounds it reports (PASS exactly when the compliant bound clears the
    threshold, FAIL exactly when the other misses it)."""
    rng = np.random.default_rng(11 + unequal)
    checked = {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0}
    # unequal sizes: every dataset a new design (D's distribution computed afresh)
    for i in range(120 if unequal else 300):
        g = int(rng.choice([3, 5, 10, 20, 60]))
        n_g = rng.integers(5, 46, size=g) if unequal else np.full(g, int(rng.choice([5, 25])))
        icc = float(rng.choice([0.0, 0.1, 0.3, 0.5]))
        q = 0.5 if i % 2 else 0.05
        thr = 0.0 if q == 0.5 else float(sps.norm.ppf(0.05))
        mu = float(rng.choice([-1.0, -0.4, -0.1, 0.0, 0.1, 0.4, 1.0]))
        effects = rng.normal(0, np.sqrt(icc), size=g)
        x = [
            mu + e + rng.normal(0, np.sqrt(1 - icc), size=m)
            for e, m in zip(effects, n_g, strict=True)
        ]
        k_g = np.array([int(np.sum(v < thr)) for v in x])
        values = np.sort(np.concatenate(x))
        n = len(values)
        sizes = mc.ClusterSizes.of(n_g)
        s = CriterionSums(
            n=n,
            total=float(k_g.sum()),
            clusters=g,
            sum_sq_sizes=float(np.sum(n_g**2)),
            between_ss=float(np.sum((k_g - n_g * k_g.sum() / n) ** 2 / n_g)),
            sizes=sizes.counts,
            sum_k_sq=float(np.sum(k_g**2)),
            sum_size_k=float(np.sum(n_g * k_g)),
        )
        ranks = estimates.needed_ranks(s, q, 0.95, clustered=True)
        ranked = {r: float(values[r - 1]) for r in ranks}
        ops: tuple[Op, ...] = (">=", "<=")
        for op in ops:
            res = verdict.criterion_result(_Std, _criterion(q, op, thr), s, ranked)  # type: ignore[arg-type]
            assert res.method == mc.METHOD_QUANTILE_BB
            p_above, p_below = mc.quantile_pvalues_bb(
                int(k_g.sum()), sizes, q, s.sum_k_sq, s.sum_size_k
            )
            above, below = p_above <= 0.05, p_below <= 0.05
            assert not (above and below)
            want = (
                ("PASS" if above else "FAIL" if below else "INCONCLUSIVE")
                if op == ">="
                else ("PASS" if below else "FAIL" if above else "INCONCLUSIVE")
            )
            assert res.verdict == want, (i, op)
            low_clears = res.ci_low is not None and res.ci_low >= thr
            high_under = res.ci_high is not None and res.ci_high < thr
            assert above == low_clears and below == high_under, (i, op)
            checked[res.verdict] += 1
    assert min(checked.values()) >= (15 if unequal else 40), checked
