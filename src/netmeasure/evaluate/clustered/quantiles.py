"""Quantiles: order-statistic ranks from the worst-case count, and Berger-Boos over a confidence
set for the ICC.

Part of the clustered methods (netmeasure.evaluate.clustered: sources in its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import fft as spfft
from scipy import special

from netmeasure.evaluate.clustered.counts import _first, pass_region
from netmeasure.evaluate.clustered.design import EXACT_UP_TO, ICC_MAX, RHO_GRID, ClusterSizes
from netmeasure.evaluate.clustered.distribution import (
    _POLAR_FROM,
    _bb_pmfs,
    _size_grid,
    tail_at_least,
    tail_at_most,
)

# -- quantiles ------------------------------------------------------------------------------


def quantile_ranks(
    sizes: ClusterSizes, q: float, confidence: float = 0.95
) -> tuple[int | None, int | None]:
    """1-based ranks (r, s) with P(X_(r) <= xi_q) >= c and P(X_(s) >= xi_q) >= c for every
    ICC up to ICC_MAX. P(X_(r) > xi_q) = P(K <= r - 1) and P(X_(s) < xi_q) = P(K >= s), K
    the count below xi_q (continuous data). One cluster: no ranks."""
    if not 0 < q < 1:
        raise ValueError(f"q ({q}) must be in (0, 1)")
    if sizes.clusters < 2:
        return None, None
    first_above, last_below = pass_region(sizes, q, confidence)
    r = last_below + 1 if last_below is not None else None
    s = first_above if first_above is not None and first_above <= sizes.n else None
    return r, s


# -- quantiles: Berger-Boos over a confidence set for the ICC --------------------------------

#: gamma of the Berger-Boos p-value p = sup_{rho in C_gamma} P(tail) + gamma (Berger & Boos
#: 1994, JASA 89:1012-1016), per statistic, as issue 10's candidate study concluded
#: (docs/statistics.md, "Candidates studied" §3: valid on its subset; the median gains up to
#: 72 points at gamma = 0.001 and loses at most 0.7, tail percentiles gain most at 0.01 and
#: were never below the worst case there).
GAMMA_MEDIAN = 0.001
GAMMA_PERCENTILE = 0.01
#: The ICC grid of the confidence set C_gamma (step 0.02 up to ICC_MAX); its top is widened
#: by one step, so that a true rho between two grid points is covered when rho's own test
#: accepts it (P_rho(D <= d) falls with rho: tests/test_stats_quantile_bb.py checks it).
BB_RHOS: tuple[float, ...] = tuple(round(ICC_MAX * i / 25, 10) for i in range(26))
#: The dispersion's distribution is computed on at most this many lattice points: each
#: cluster's term is rounded down to a multiple of the lattice unit, so the computed
#: P(D <= d) is an upper bound (a wider, still valid confidence set; the slack in d is at
#: most G units, under 10 % of E D at BB_MAX_CLUSTERS).
DISPERSION_LATTICE = 4096
#: Berger-Boos up to this many clusters (one transform per distinct size and ICC); designs
#: with more clusters (crowds: thousands of clusters of 1-3 samples) keep the worst case
#: over [0, ICC_MAX], decided from the design alone (so each design has one valid test).
BB_MAX_CLUSTERS = 400
#: Added to every computed P(D <= d) before it is compared with gamma: above the transform's
#: rounding (the untilt e^(theta x) <= e^10 on errors of about 1e-15 per point).
DISPERSION_SLACK = 1e-7
#: theta (L + 1) of the exponential tilt of the dispersion's transform: the mass of the sums
#: beyond the transform's length 2 (L + 1), which wraps around onto the lattice, is damped by
#: e^(-2 x this) = 2e-9 (and only ever adds to P(D <= d): a wider set).
_TILT = 10.0

METHOD_QUANTILE_BB = "order-statistic-berger-boos"
METHOD_QUANTILE_WORST = "order-statistic-worst-case"


def quantile_gamma(q: float) -> float:
    """The study's gamma for the q-quantile: GAMMA_MEDIAN at q = 1/2, else GAMMA_PERCENTILE."""
    return GAMMA_MEDIAN if Fraction(repr(q)) == Fraction(1, 2) else GAMMA_PERCENTILE


#: Berger-Boos only where clusters hold at least this many samples on average (the study's
#: smallest size): with clusters of 1-3 samples (crowds, one device's days) the dispersion
#: says little about the ICC, the set is nearly always [0, ICC_MAX] and the test would be
#: the worst case at 1 - c - gamma, less powerful than the worst case itself (whose price
#: there is small: variance inflation 1 + ICC_MAX (sum n_g^2 / n - 1), about 1.1-1.3).
BB_MIN_MEAN_SIZE = 5


def berger_boos_applies(sizes: ClusterSizes) -> bool:
    """Whether a design gets the Berger-Boos test (else the worst case): 2 to BB_MAX_CLUSTERS
    clusters of BB_MIN_MEAN_SIZE samples or more on average, the histogram of sizes known,
    and the exact count distribution (n up to EXACT_UP_TO). A property of the design, never
    of the data, so each design has one valid test."""
    return (
        2 <= sizes.clusters <= BB_MAX_CLUSTERS
        and sizes.n >= BB_MIN_MEAN_SIZE * sizes.clusters
        and bool(sizes.counts)
        and 0 < sizes.n <= EXACT_UP_TO
    )


def dispersion_scaled(q: float, sizes: ClusterSizes, sum_k_sq: int, sum_size_k: int) -> int:
    """b^2 D, D = sum_g (k_g - n_g q)^2 with q = a / b as the decimal written, in exact
    integers: b^2 sum k_g^2 - 2 a b sum n_g k_g + a^2 sum n_g^2 (Tarone 1979's dispersion,
    centred at the null share q)."""
    f = Fraction(repr(q))
    a, b = f.numerator, f.denominator
    d = b * b * int(sum_k_sq) - 2 * a * b * int(sum_size_k) + a * a * int(sizes.sum_sq)
    if d < 0:
        raise ValueError(
            f"inconsistent sums: sum k_g^2 = {sum_k_sq}, sum n_g k_g = {sum_size_k}, "
            f"sum n_g^2 = {sizes.sum_sq} give a negative dispersion"
        )
    return d


@dataclass(frozen=True, eq=False)
class _DispersionCdf:
    """Upper bounds on P_rho(b^2 D <= d) for each rho of BB_RHOS (rows), at lattice points
    x = floor(d / unit) = 0..L (columns)."""

    unit: int
    cdf: np.ndarray


def _term_values(m: int, a: int, b: int) -> np.ndarray:
    """(b k - m a)^2 for k = 0..m: one cluster's term of b^2 D (exact in int64 for the
    designs that get here: b m <= 10^9)."""
    k = np.arange(m + 1, dtype=np.int64)
    return (b * k - m * a) ** 2


def dispersion_max(sizes: ClusterSizes, q: float) -> int:
    """E b^2 D at ICC_MAX = b^2 q (1 - q) (n + ICC_MAX (sum n_g^2 - n)) (E k_g = n_g q
    exactly), rounded down: beyond it every rho is accepted, for any gamma (a wider set)."""
    f = Fraction(repr(q))
    return math.floor(
        f.denominator**2
        * f
        * (1 - f)
        * (sizes.n + Fraction(repr(ICC_MAX)) * (sizes.sum_sq - sizes.n))
    )


def _lattice_span(d_scaled: int, d_max: int) -> int:
    """The range [0, span] of the lattice D's distribution is computed on for an observed
    b^2 D = d <= d_max: the smallest of d_max, d_max / sqrt 2, d_max / 2, ... (rounded up)
    at or above d, and at least DISPERSION_LATTICE (where the unit is 1: exact). So the
    lattice unit is at most sqrt 2 d / DISPERSION_LATTICE: the rounding's slack (G units) is
    a small share of d itself, whatever the ICC, while a design's tables stay few (one per
    span) and cacheable."""
    span = d_max
    floor = max(d_scaled, DISPERSION_LATTICE)
    while span > floor:
        nxt = math.ceil(span / math.sqrt(2))
        if nxt < floor:
            break
        span = nxt
    return span


def _dispersion_cdf(sizes: ClusterSizes, q: float, span: int) -> _DispersionCdf:
    """The distribution of D under BB(n_g, q, rho), for every rho of BB_RHOS, on its lattice
    over [0, span] (b^2 D units), at most DISPERSION_LATTICE + 1 points.

    Each cluster's term is rounded down to the lattice unit h (so the computed cdf bounds the
    exact one from above); terms beyond the lattice are dropped (they make D exceed every
    lattice point). The G-fold convolution is a product of transforms, one per distinct size
    (the size histogram), raised to its count; the pmfs are tilted by e^(-theta u) so that
    the sums that wrap around the transform are negligible, and untilted afterwards."""
    f = Fraction(repr(q))
    a, b = f.numerator, f.denominator
    counts = sizes.exact_counts()
    unit = max(1, math.ceil((span + 1) / (DISPERSION_LATTICE + 1)))
    last = span // unit
    theta = _TILT / (last + 1)
    nfft = spfft.next_fast_len(2 * (last + 1), real=True)
    m_list = [m for m, _ in counts]
    c_list = [c for _, c in counts]
    grid = _size_grid(tuple(m_list))
    top_m = max(m_list)
    # lattice index of every (size, k) and whether it is kept
    u = np.full((len(m_list), top_m + 1), last + 1, dtype=np.int64)
    for i, m in enumerate(m_list):
        u[i, : m + 1] = _term_values(m, a, b) // unit
    keep = u <= last
    flat_idx = (np.arange(len(m_list))[:, None] * nfft + np.minimum(u, last))[keep]
    damp = np.exp(-theta * np.minimum(u, last + 1))
    rhos = np.asarray(BB_RHOS)
    pmfs = np.empty((len(rhos), len(m_list), top_m + 1))
    pmfs[1:] = _bb_pmfs(grid, float(f), rhos[1:])
    pmfs[0] = _binomial_pmfs(m_list, float(f), top_m)
    x = np.arange(last + 1)
    untilt = np.exp(theta * x)
    rows = np.empty((len(rhos), last + 1))
    c_arr = np.array(c_list, dtype=float)
    for r in range(len(rhos)):
        w = (pmfs[r] * damp)[keep]
        arr = np.bincount(flat_idx, weights=w, minlength=len(m_list) * nfft)
        tr = spfft.rfft(arr.reshape(len(m_list), nfft), axis=1)
        acc = _power_product(tr, c_list, c_arr)
        pmf = spfft.irfft(acc, nfft)[: last + 1] * untilt
        rows[r] = np.cumsum(np.clip(pmf, 0.0, None))
    cdf = np.minimum(rows, 1.0)
    cdf.setflags(write=False)
    return _DispersionCdf(unit, cdf)


def _binomial_pmfs(m_list: Sequence[int], p: float, top_m: int) -> np.ndarray:
    """Binomial(m, p) pmfs for each size (rows), zero beyond m (the ICC-0 row)."""
    out = np.zeros((len(m_list), top_m + 1))
    for i, m in enumerate(m_list):
        k = np.arange(m + 1)
        out[i, : m + 1] = np.exp(
            special.gammaln(m + 1)
            - special.gammaln(k + 1)
            - special.gammaln(m - k + 1)
            + special.xlogy(k, p)
            + special.xlog1py(m - k, -p)
        )
    return out


def _power_product(tr: np.ndarray, c_list: Sequence[int], c_arr: np.ndarray) -> np.ndarray:
    """prod_s tr[s]^c_s: exactly (integer powers) when every count is below _POLAR_FROM,
    else in polar form (as _truncated_pmf)."""
    if max(c_list) < _POLAR_FROM:
        acc = np.ones(tr.shape[1], dtype=complex)
        for s, c in enumerate(c_list):
            acc *= tr[s] if c == 1 else np.power(tr[s], c)
        return acc
    with np.errstate(divide="ignore"):
        log_mag = c_arr @ np.log(np.abs(tr))
    phase = c_arr @ np.angle(tr)
    out: np.ndarray = np.exp(log_mag + 1j * phase)
    return out


@dataclass(frozen=True, eq=False)
class _IccTops:
    """For each lattice point x of a span: the index into BB_RHOS of C_gamma's widened top."""

    unit: int
    tops: np.ndarray


#: what depends only on the design (and gamma, and the span): every group of the same design
#: (each entry DISPERSION_LATTICE + 1 small integers)
@lru_cache(maxsize=512)
def _icc_tops(sizes: ClusterSizes, q: float, gamma: float, span: int) -> _IccTops:
    table = _dispersion_cdf(sizes, q, span)
    accepted = table.cdf + DISPERSION_SLACK > gamma  # (rhos, points)
    last = len(BB_RHOS) - 1
    top = np.where(accepted.any(axis=0), last - np.argmax(accepted[::-1], axis=0), -1)
    tops = np.minimum(top + 1, last).astype(np.int8)
    tops.setflags(write=False)
    return _IccTops(table.unit, tops)


def icc_set_top(sizes: ClusterSizes, q: float, d_scaled: int, gamma: float) -> int:
    """The index into BB_RHOS of the top of the confidence set C_gamma = {rho <= ICC_MAX:
    P_rho(D <= d) > gamma} for the ICC of "below the q-quantile's threshold", widened by one
    grid step (the top index when D lies beyond E D at ICC_MAX: every rho accepted). With no
    rho accepted, the set is {0} (a superset of the empty set)."""
    d_max = dispersion_max(sizes, q)
    if d_scaled > d_max:
        return len(BB_RHOS) - 1
    table = _icc_tops(sizes, q, gamma, _lattice_span(d_scaled, d_max))
    return int(table.tops[d_scaled // table.unit])


def _rhos_up_to(top: int) -> tuple[float, ...]:
    """The ICCs over which the tails are maximised for the set [0, BB_RHOS[top]]: 0, the
    library's RHO_GRID points below the top, and the top (the supremum over an interval is
    at its ends in every case the tests check; the grid guards the rest, as for RHO_GRID)."""
    rho_top = BB_RHOS[top]
    return tuple(sorted({0.0, rho_top, *(r for r in RHO_GRID if r < rho_top)}))


def _alpha_less(confidence: float, gamma: float) -> float:
    """1 - c - gamma, from the decimals as written (1 - 0.95 - 0.01 is 0.04)."""
    return float(1 - Fraction(repr(confidence)) - Fraction(repr(gamma)))


@lru_cache(maxsize=4096)  # pure; a design has at most len(BB_RHOS) tops
def _bb_ranks(
    sizes: ClusterSizes, q: float, confidence: float, gamma: float, top: int
) -> tuple[int | None, int | None]:
    """(r, s): r = 1 + the largest k with sup_{rho <= top} P_q(K <= k) + gamma <= 1 - c,
    s = the smallest k with sup P_q(K >= k) + gamma <= 1 - c (None: no such count)."""
    alpha = _alpha_less(confidence, gamma)
    rhos = _rhos_up_to(top)
    n = sizes.n
    above = _first(lambda k: tail_at_least(k, q, sizes, rhos) <= alpha, n)
    below = _first(lambda k: tail_at_most(k, q, sizes, rhos) > alpha, n) - 1
    return (below + 1 if below >= 0 else None), (above if above <= n else None)


@dataclass(frozen=True, slots=True)
class QuantileRanks:
    """1-based ranks of the order statistics bounding a clustered quantile (None: no bound),
    the method, and for Berger-Boos the top of the ICC's confidence set and gamma."""

    low: int | None
    high: int | None
    method: str
    icc_top: float | None = None
    gamma: float | None = None


def quantile_ranks_bb(
    sizes: ClusterSizes,
    q: float,
    confidence: float,
    sum_k_sq: float,
    sum_size_k: float,
) -> QuantileRanks:
    """The ranks of the Berger-Boos test of the count K below a quantile criterion's
    threshold, from the sums at that threshold (K's per-cluster counts k_g: sum k_g^2 and
    sum n_g k_g). X_(r) >= t exactly when K <= r - 1, i.e. when the Berger-Boos p-value
    sup_{C_gamma} P_q(K <= k) + gamma is at most 1 - c: so the bound X_(r) and the verdict
    at the threshold agree by construction. The bounds are the inversion of the tests at
    every x that all take C_gamma from the threshold's dispersion: at x = t this is the
    Berger-Boos test; elsewhere it is not guaranteed by Berger & Boos's argument (the ICC of
    "below x" is not that of "below t"), so the coverage of ci_low / ci_high is the study's.
    Designs where Berger-Boos does not apply get the worst-case ranks (quantile_ranks)."""
    if not 0 < q < 1:
        raise ValueError(f"q ({q}) must be in (0, 1)")
    if not berger_boos_applies(sizes):
        r, s = quantile_ranks(sizes, q, confidence)
        return QuantileRanks(r, s, METHOD_QUANTILE_WORST)
    gamma = quantile_gamma(q)
    d = dispersion_scaled(q, sizes, round(sum_k_sq), round(sum_size_k))
    top = icc_set_top(sizes, q, d, gamma)
    r, s = _bb_ranks(sizes, q, confidence, gamma, top)
    return QuantileRanks(r, s, METHOD_QUANTILE_BB, BB_RHOS[top], gamma)


def quantile_pvalues_bb(
    k: int, sizes: ClusterSizes, q: float, sum_k_sq: float, sum_size_k: float
) -> tuple[float, float]:
    """The Berger-Boos p-values at the threshold, computed directly (not through ranks):
    (sup_{C_gamma} P_q(K <= k) + gamma, sup_{C_gamma} P_q(K >= k) + gamma), the first for
    "the quantile is above the threshold", the second for "below". For the tests' check that
    bounds and verdicts agree."""
    gamma = quantile_gamma(q)
    d = dispersion_scaled(q, sizes, round(sum_k_sq), round(sum_size_k))
    rhos = _rhos_up_to(icc_set_top(sizes, q, d, gamma))
    return (
        min(1.0, tail_at_most(k, q, sizes, rhos) + gamma),
        min(1.0, tail_at_least(k, q, sizes, rhos) + gamma),
    )
