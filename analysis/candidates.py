"""Candidate methods studied beside netmeasure's (issue 10, "study the candidates rather than
assume"); study code only, the library's methods are imported read-only.

- Means, few clusters: the restricted wild cluster bootstrap (WCR) of the cluster-robust t
  with Webb's six-point weights ±√(1/2), ±1, ±√(3/2) (Webb 2023, "Reworking wild bootstrap
  based inference for clustered errors", Canadian Journal of Economics 56(3):839-858;
  Roodman, MacKinnon, Nielsen & Webb 2019, "Fast and wild: bootstrap inference in Stata
  using boottest", Stata Journal 19(1):4-60; Cameron, Gelbach & Miller 2008, REStat
  90:414-427). For an intercept-only model the bootstrap t depends only on the clusters'
  score totals u_g = Σ_i (y_i − μ0), so it is computed from those. With 6^G ≤ B every weight
  vector is enumerated (Webb's recommendation for very few clusters).
- Counts (shares, failure ratios, the count below a quantile's threshold): the signed root of
  the beta-binomial likelihood ratio for p = p0 against p free (ρ free in both), calibrated by
  a parametric bootstrap from the restricted fit BB(m, p0, ρ̃) (Skellam 1948 for the model;
  the parametric bootstrap of a likelihood-ratio statistic: Davison & Hinkley 1997,
  "Bootstrap Methods and their Application", §4.2). The maximum likelihood is taken on a
  fixed grid of (p, ρ): the statistic is then the grid's, and the bootstrap calibrates that
  statistic exactly as it would the continuous one; tests/test_stats_candidates.py checks it
  against scipy.optimize.
- Counts: Berger & Boos (1994, "P values maximized over a confidence set for the nuisance
  parameter", JASA 89(427):1012-1016): p = sup_{ρ ∈ C_γ} P_{p0,ρ}(tail) + γ, where C_γ is a
  1 − γ confidence set for the ICC under the null, here {ρ ≤ 0.5 : P_{p0,ρ}(D ≤ d) > γ} from
  the dispersion D = Σ_g (k_g − n_g p0)² (Tarone 1979's statistic, Biometrika 66:585-590,
  centred at the null p0), whose exact distribution is computed by FFT convolution. At
  p = p0 the level holds for every ρ <= 0.5 under the beta-binomial model; further into the
  null E D grows (a wider set), but D is not stochastically monotone in p for small counts,
  so the study checks the boundary.

All functions here work on equal cluster sizes m (the study's designs) unless said.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import fft as spfft
from scipy import special

from netmeasure.evaluate import methods_clustered as mc

# -- wild cluster bootstrap (means) -----------------------------------------------------------

WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])


def webb_weights(clusters: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(B, G) Webb weights: all 6^G vectors when 6^G <= draws, else ``draws`` random ones."""
    if 6**clusters <= draws:
        return np.array(list(itertools.product(WEBB, repeat=clusters)))
    return WEBB[rng.integers(0, 6, size=(draws, clusters))]


def cluster_t(u: np.ndarray, n_g: np.ndarray) -> np.ndarray:
    """The cluster-robust t of the mean against μ0 from score totals u (..., G) and sizes n_g,
    without the CR1 factor G/(G-1) (a constant that cancels in the bootstrap p-value):
    t = Σu / √(Σ_g (u_g − n_g Σu/n)²)."""
    total = u.sum(-1)
    resid = u - n_g * (total / n_g.sum())[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / np.sqrt((resid**2).sum(-1))


def wild_pvalues(
    u: np.ndarray, n_g: np.ndarray, weights: np.ndarray, chunk: int = 50
) -> np.ndarray:
    """One-sided WCR p-values P*(t* >= t) for datasets u (N, G) (H0: μ <= μ0; the
    restricted bootstrap puts y* = μ0 + w_g (y − μ0), whose score totals are w_g u_g)."""
    out = np.empty(len(u))
    for start in range(0, len(u), chunk):
        block = u[start : start + chunk]
        t = cluster_t(block, n_g)
        t_star = cluster_t(block[:, None, :] * weights[None, :, :], n_g)  # (b, B)
        out[start : start + chunk] = (t_star >= t[:, None] - 1e-12 * np.abs(t[:, None])).mean(1)
    return out


# -- beta-binomial likelihood ratio (counts) --------------------------------------------------

#: ρ grid of the likelihood (and of the bootstrap's restricted fits).
LRT_RHOS = np.round(np.linspace(0.0, 0.9, 46), 10)


def _bb_logpmf(m: int, p: float, rho: float) -> np.ndarray:
    k = np.arange(m + 1)
    if p <= 0:
        return np.where(k == 0, 0.0, -1e9)
    log_choose = special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1)
    if rho <= 0:
        return log_choose + k * math.log(p) + (m - k) * math.log1p(-p)
    s = (1 - rho) / rho
    a, b = p * s, (1 - p) * s
    return log_choose + special.betaln(k + a, m - k + b) - special.betaln(a, b)


@dataclass(frozen=True)
class LikelihoodGrid:
    """log BB(k; m, p, ρ) on a (p, ρ) grid: rows p-major; p0's rows marked."""

    m: int
    p0: float
    ps: np.ndarray
    rhos: np.ndarray
    table: np.ndarray  # (P * R, m + 1)

    @classmethod
    def build(cls, m: int, p0: float) -> LikelihoodGrid:
        """p grid: 0, p0, and 160 points log-spaced in [1e-4, 0.999] (p = probability of the
        outcome counted; the study counts the rare outcome, so p0 <= 0.5)."""
        ps = np.unique(np.concatenate(([0.0, p0], np.geomspace(1e-4, 0.999, 160))))
        table = np.array([_bb_logpmf(m, float(p), float(r)) for p in ps for r in LRT_RHOS])
        return cls(m, p0, ps, LRT_RHOS, table)

    def fit(self, hist: np.ndarray, chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """For histograms (N, m+1) of cluster counts: the signed root r = sign(p0 − p̂)
        √(2 (ℓ̂ − ℓ̃)) (large when the data say p < p0) and the index of ρ̃ (restricted
        MLE at p = p0) in ``rhos``."""
        n_rho = len(self.rhos)
        i0 = int(np.nonzero(self.ps == self.p0)[0][0])
        r_out = np.empty(len(hist))
        idx_out = np.empty(len(hist), dtype=int)
        for start in range(0, len(hist), chunk):
            h = hist[start : start + chunk].astype(float)
            ll = h @ self.table.T  # (b, P * R)
            best = ll.argmax(1)
            l_hat = ll[np.arange(len(h)), best]
            restricted = ll[:, i0 * n_rho : (i0 + 1) * n_rho]
            idx = restricted.argmax(1)
            l_tilde = restricted[np.arange(len(h)), idx]
            p_hat = self.ps[best // n_rho]
            r_out[start : start + len(h)] = np.sign(self.p0 - p_hat) * np.sqrt(
                2 * np.maximum(l_hat - l_tilde, 0.0)
            )
            idx_out[start : start + len(h)] = idx
        return r_out, idx_out


def histograms(k_g: np.ndarray, m: int) -> np.ndarray:
    """(N, G) counts -> (N, m+1) histograms of the cluster counts."""
    out = np.zeros((len(k_g), m + 1), dtype=np.int32)
    rows = np.repeat(np.arange(len(k_g)), k_g.shape[1])
    np.add.at(out, (rows, k_g.ravel()), 1)
    return out


def bb_draws(
    rng: np.random.Generator, reps: int, g: int, m: int, p: float, rho: float
) -> np.ndarray:
    if rho <= 0:
        return rng.binomial(m, p, size=(reps, g))
    s = (1 - rho) / rho
    return rng.binomial(m, rng.beta(p * s, (1 - p) * s, size=(reps, g)))


def lrt_null_table(
    grid: LikelihoodGrid, g: int, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """(R, B) sorted bootstrap statistics r* from BB(m, p0, ρ_j) for every ρ_j of the grid:
    the parametric bootstrap at the restricted fit ρ̃ = ρ_j (the fit is always a grid point, so
    the table is the bootstrap itself, its draws shared by datasets with the same ρ̃)."""
    out = np.empty((len(grid.rhos), draws))
    for j, rho in enumerate(grid.rhos):
        k_g = bb_draws(rng, draws, g, grid.m, grid.p0, float(rho))
        out[j] = np.sort(grid.fit(histograms(k_g, grid.m))[0])
    return out


def lrt_pvalues(r: np.ndarray, idx: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(1 + #{r* >= r}) / (B + 1) with r* from the table row of each dataset's ρ̃."""
    draws = table.shape[1]
    ge = np.array(
        [
            draws - np.searchsorted(table[j], x - 1e-9, side="left")
            for x, j in zip(r, idx, strict=True)
        ]
    )
    return (1 + ge) / (draws + 1)


# -- Berger-Boos with a confidence set for the ICC (counts) -----------------------------------

#: ρ grid on which C_γ and the supremum are taken (step 0.01 up to the design assumption).
BB_RHOS = np.round(np.linspace(0.0, mc.ICC_MAX, 51), 10)
#: The dispersion's cdf is kept only where some ρ has P(D <= d) <= this (γ must be below it).
KEEP_ABOVE = 0.05


@dataclass(frozen=True)
class Dispersion:
    """Exact cdf of D = Σ_g (k_g − m p0)² under BB(m, p0, ρ) for each ρ of ``rhos``, on the
    integer lattice den² D (m p0 = num / den)."""

    m: int
    p0: float
    num: int
    den: int
    cdf: np.ndarray  # (R, L): P(den² D <= d)

    @classmethod
    def build(cls, g: int, m: int, p0: float, rhos: np.ndarray = BB_RHOS) -> Dispersion:
        mp = Fraction(repr(p0)) * m
        num, den = mp.numerator, mp.denominator
        k = np.arange(m + 1)
        lattice = (den * k - num) ** 2
        top = int(lattice.max()) * g
        nfft = spfft.next_fast_len(top + 1, real=True)
        rows = []
        for rho in rhos:
            pmf_k = np.exp(_bb_logpmf(m, p0, float(rho)))
            one = np.zeros(nfft)
            np.add.at(one, lattice, pmf_k)
            f = spfft.rfft(one)
            f = np.abs(f) ** g * np.exp(1j * g * np.angle(f))
            pmf = np.clip(spfft.irfft(f, nfft)[: top + 1], 0.0, None)
            rows.append(np.minimum(np.cumsum(pmf), 1.0))
        cdf = np.array(rows)
        # beyond the first d at which every row exceeds KEEP_ABOVE, every ρ is accepted for
        # any γ < KEEP_ABOVE: the lattice is cut there (lookups beyond are clipped to it)
        above = np.nonzero(cdf.min(0) > KEEP_ABOVE)[0]
        cut = int(above[0]) if len(above) else top
        return cls(m, p0, num, den, np.ascontiguousarray(cdf[:, : cut + 1]))

    def scaled(self, k_g: np.ndarray) -> np.ndarray:
        return ((self.den * k_g - self.num) ** 2).sum(-1)

    def upper_index(self, k_g: np.ndarray, gamma: float) -> np.ndarray:
        """Index into the ρ grid of the top of C_γ = {ρ: P_ρ(D <= d) > γ}, widened by one
        grid step (the set is an interval if P_ρ(D <= d) falls with ρ; the step covers a
        true ρ between grid points); 0 when no ρ is accepted."""
        if gamma >= KEEP_ABOVE:
            raise ValueError(f"gamma ({gamma}) must be below {KEEP_ABOVE}")
        d = np.minimum(self.scaled(k_g), self.cdf.shape[1] - 1)
        accepted = gamma < self.cdf[:, d].T  # (N, R)
        top = np.where(accepted.any(1), len(self.cdf) - 1 - accepted[:, ::-1].argmax(1), -1)
        return np.minimum(top + 1, len(self.cdf) - 1)


def worst_tails_upto(sizes: mc.ClusterSizes, p0: float, rhos: np.ndarray = BB_RHOS) -> np.ndarray:
    """(R, n+1): sup over ρ in rhos[: j + 1] of P_{p0,ρ}(K <= k), from the library's exact
    beta-binomial-sum tails (tail_at_most)."""
    per_rho = np.array(
        [[mc.tail_at_most(k, p0, sizes, (float(rho),)) for k in range(sizes.n + 1)] for rho in rhos]
    )
    return np.maximum.accumulate(per_rho, axis=0)


def berger_boos_pvalues(
    k_g: np.ndarray, disp: Dispersion, tails: np.ndarray, gamma: float
) -> np.ndarray:
    """p = sup_{ρ ∈ C_γ} P_{p0,ρ}(K <= k) + γ for datasets k_g (N, G) (small K: PASS)."""
    top = disp.upper_index(k_g, gamma)
    return np.minimum(1.0, tails[top, k_g.sum(1)] + gamma)
