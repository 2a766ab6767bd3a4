"""The worst-case distribution of a count over clusters: beta-binomial sums, convolved by FFT,
maximised over the ICC.

Part of the clustered methods (netmeasure.evaluate.clustered: sources in its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as spfft
from scipy import special

from netmeasure.evaluate.clustered.design import EXACT_UP_TO, RHO_GRID, ClusterSizes

# -- the worst-case count distribution --------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _SizeGrid:
    """What _bb_pmfs and _support need of a set of cluster sizes m_s, whatever p: the
    counts j = 0..max m - 1, m - j, j + 1, m - j - 1 (each (1, sizes, max m)), where k <= m_s
    (k = 1..max m), and exp(theta (k - m_s)) for k <= m_s (sizes, max m + 1, thetas)."""

    m: np.ndarray
    j: np.ndarray
    m_minus_j: np.ndarray
    j_plus_1: np.ndarray
    m_minus_j_1: np.ndarray
    beyond: np.ndarray
    mgf_weights: np.ndarray
    theta_m: np.ndarray


@lru_cache(maxsize=16)  # a group's few histograms (each up to sizes x max m x 9 doubles)
def _size_grid(sizes: tuple[int, ...]) -> _SizeGrid:
    m = np.array(sizes, dtype=np.int64)
    top = int(m.max())
    j = np.arange(top)
    mm = m[None, :, None].astype(float)
    jj = j[None, None, :].astype(float)
    valid = jj < mm
    shift = np.arange(top + 1)[None, :] - m[:, None]  # (sizes, k)
    return _SizeGrid(
        m=m,
        j=j.astype(float),
        m_minus_j=np.where(valid, mm - jj, 1.0),
        j_plus_1=jj + 1,
        m_minus_j_1=np.where(valid, mm - jj - 1, 1.0),
        beyond=~valid,
        mgf_weights=np.exp(np.minimum(shift, 0)[:, :, None] * _THETAS[None, None, :]),
        theta_m=_THETAS[None, None, :] * m[None, :, None],
    )


def _bb_pmfs(grid: _SizeGrid, p: float | np.ndarray, rhos: np.ndarray) -> np.ndarray:
    """pmfs of BB(m_s, p, rho_r) for every size m_s and every rho_r > 0 at once, shape
    (rhos, sizes, max m + 1), zero beyond m_s, for 0 < p < 1. From P(0) = prod_{j<m} (b + j)
    / (a + b + j) and P(k + 1) / P(k) = (m - k)(k + a) / ((k + 1)(m - k - 1 + b)), summed in
    logs (no underflow for large m): one vectorised pass instead of gammaln/betaln per size.
    ``p`` is one number, or one per rho (the same shape as ``rhos``: rows of several p)."""
    s = (1 - rhos) / rhos
    a = (p * s)[:, None]
    b = ((1 - p) * s)[:, None]
    j = grid.j
    # log P(0) for every m: the cumulative sums of log((b + j) / (a + b + j)) up to j = m - 1
    log0 = np.zeros((len(rhos), len(j) + 1))
    np.cumsum(np.log((b + j) / (a + b + j)), axis=1, out=log0[:, 1:])
    log_p0 = log0[:, grid.m][:, :, None]
    # the ratios (1 where k > m: masked below)
    ratio = (grid.m_minus_j * (j + a[:, :, None])) / (
        grid.j_plus_1 * (grid.m_minus_j_1 + b[:, :, None])
    )
    logs = np.empty((len(rhos), len(grid.m), len(j) + 1))
    logs[:, :, :1] = log_p0
    np.cumsum(np.log(ratio), axis=2, out=logs[:, :, 1:])
    logs[:, :, 1:] += log_p0
    out = np.exp(logs)
    out[:, :, 1:][np.broadcast_to(grid.beyond, out[:, :, 1:].shape)] = 0.0
    return out


def _ones_only(sizes: ClusterSizes) -> bool:
    """Every cluster holds one trial: BB(1, p, rho) is Bernoulli(p) whatever rho, so K is
    Binomial(n, p) exactly and the supremum over rho is the binomial tail itself."""
    return sizes.n > 0 and sizes.counts == ((1, sizes.clusters),)


#: few entries (each up to rhos x (n + 1) doubles: 2 MB at EXACT_UP_TO): the hits are the
#: root-finder's fallback, a verdict's two tails at p0 and a bisection over k at one p
@lru_cache(maxsize=32)
def _truncated_pmf(p: float, sizes: ClusterSizes, rhos: tuple[float, ...]) -> np.ndarray:
    """The pmf of K for each rho > 0 in ``rhos`` (rows), for 0 < p < 1, on counts 0..L' - 1
    where L' = min(nfft, n + 1) >= L from _support: P(K >= L) <= TRUNCATION_MASS for every
    rho, so the mass that wraps around or is cut off is below it. Rows are empty (shape
    (0, L')) when no rho > 0 is asked. (_pmf_rows at one p.)"""
    r = np.asarray([x for x in rhos if x > 0], dtype=float)
    if not len(r):
        return np.zeros((0, sizes.n + 1))
    out = _pmf_rows(np.full(len(r), float(p)), r, sizes)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class _SizePlan:
    """What the convolution needs of a histogram of cluster sizes, whatever p and rho: the
    size grid, the counts (as doubles), whether they are all below _POLAR_FROM, for the
    exact powers the sizes grouped by count ((count, mask of the sizes), ...), and the index
    of the size held by the most clusters."""

    grid: _SizeGrid
    counts: np.ndarray
    exact_powers: bool
    by_count: tuple[tuple[int, np.ndarray], ...]
    most_frequent: int


@lru_cache(maxsize=16)
def _size_plan(counts: tuple[tuple[int, int], ...]) -> _SizePlan:
    c_list = [c for _, c in counts]
    c_arr = np.array(c_list, dtype=float)
    return _SizePlan(
        _size_grid(tuple(m for m, _ in counts)),
        c_arr,
        max(c_list) < _POLAR_FROM,
        tuple((v, c_arr == v) for v in sorted(set(c_list))),
        int(np.argmax(c_arr)),
    )


def _pmf_rows(ps: np.ndarray, rhos: np.ndarray, sizes: ClusterSizes) -> np.ndarray:
    """The pmfs of K at (ps[i], rhos[i]) for each row i (0 < p < 1, rho > 0), on counts
    0..L' - 1 as _truncated_pmf, with one L' for all rows (the largest any row needs: more
    counts than needed only add the rows' rounding).

    Every size (clusters of one trial too: BB(1) is Bernoulli(p) whatever rho) is one row
    per (p, rho) of a single batched transform, so the numpy calls are the same whatever the
    number of rows: the root-finder asks for several p at once. Powers F^count: when every
    size is held by fewer than _POLAR_FROM clusters, exactly (numpy's integer power);
    otherwise all in polar form."""
    n = sizes.n
    plan = _size_plan(sizes.exact_counts())
    rows = len(ps)
    pmfs = _bb_pmfs(plan.grid, ps, rhos)
    # each row's support; the transform's length for the largest. Where the batch holds
    # several p, each row is cut at its own length below (so that a row's tails are its own
    # p's, whatever the batch; the mass cut off is below TRUNCATION_MASS)
    support = _support(pmfs, plan.grid, plan.counts, n).tolist()
    fast = {x: spfft.next_fast_len(x, real=True) for x in set(support)}
    lengths = list(fast.values())
    cut = None
    if rows > 1 and ps.min() != ps.max():
        cut = np.minimum(np.array([fast[x] for x in support]), n + 1)
    nfft = max(lengths)
    half = nfft // 2 + 1
    acc = np.zeros((rows, half), dtype=complex)
    direct = pmfs.shape[2] <= _DIRECT_DFT_UP_TO
    if plan.exact_powers:
        f = _transform(pmfs, nfft, half)
        # exactly: the sizes held by the same number v of clusters multiplied first, then
        # raised to v once (numpy multiplies for integer powers below 100)
        acc[:] = 1.0
        for v, same_v in plan.by_count:
            same = f[:, same_v]
            part = np.prod(same, axis=1) if same.shape[1] > 1 else same[:, 0]
            acc *= part if v == 1 else np.power(part, v)
    else:
        # polar form: log|F| and arg F weighted by the counts and summed over the sizes
        # (vector-matrix products), then one exp per coefficient, on the coefficients up to
        # the last whose magnitude is above e^-80 for some row (they decay with the
        # frequency; the others are below the pmf's rounding: 0). Every |F_s| <= 1, so the
        # most frequent size's factor |F_s|^count alone bounds the product: the transform of
        # the other sizes is only computed below the first frequency from which it is under
        # e^-80 (typically a tenth of them)
        top = _most_frequent_negligible_from(pmfs, plan, nfft) if direct else half
        f = _transform(pmfs, nfft, top)
        with np.errstate(divide="ignore"):
            log_mag = plan.counts @ (0.5 * np.log(f.real**2 + f.imag**2))
        keep = np.nonzero(log_mag.max(axis=0) > _LOG_NEGLIGIBLE)[0]
        last = int(keep[-1]) + 1 if len(keep) else 0
        phase = plan.counts @ np.arctan2(f.imag[..., :last], f.real[..., :last])
        acc[:, :last] = np.exp(log_mag[:, :last] + 1j * phase)
    out: np.ndarray = np.fft.irfft(acc, nfft, axis=1)[:, : n + 1]
    np.maximum(out, 0.0, out=out)
    if cut is not None:
        out[np.arange(out.shape[1])[None, :] >= cut[:, None]] = 0.0
    return out


def _most_frequent_negligible_from(pmfs: np.ndarray, plan: _SizePlan, nfft: int) -> int:
    """The first frequency index from which count_s log|F_s| <= log e^-80 for every row and
    every later frequency, s the size held by the most clusters: the product of the
    transforms is negligible there (its other factors are at most 1 in magnitude)."""
    s = plan.most_frequent
    half = nfft // 2 + 1
    if plan.grid.m[s] == 1:
        # BB(1) is Bernoulli: |F(w)|^2 = q^2 + p^2 + 2 p q cos w falls on [0, pi], so the
        # bound is at or below -80 from arccos((e^(-160 / count) - q^2 - p^2) / (2 p q))
        # on (plus one index: the rounding of arccos)
        q1, p1 = pmfs[:, s, 0], pmfs[:, s, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            cos_at = (math.exp(2 * _LOG_NEGLIGIBLE / plan.counts[s]) - q1 * q1 - p1 * p1) / (
                2 * p1 * q1
            )
        if not np.all(cos_at >= -1.0):
            return half
        w = float(np.arccos(np.minimum(cos_at, 1.0)).max())
        return min(half, math.ceil(w * nfft / (2 * math.pi)) + 1)
    f = _transform(pmfs[:, s : s + 1], nfft, half)[:, 0]
    with np.errstate(divide="ignore"):
        bound = plan.counts[s] * 0.5 * np.log(f.real**2 + f.imag**2)
    above = np.nonzero(bound.max(axis=0) > _LOG_NEGLIGIBLE)[0]
    return int(above[-1]) + 1 if len(above) else 0


#: Up to this many counts per size (max n_g + 1), the transform of the pmfs is a product with
#: the DFT matrix (one BLAS call: few nonzeros per row, where an FFT of the zero-padded row
#: costs N log N); beyond, numpy's FFT.
_DIRECT_DFT_UP_TO = 24


def _transform(pmfs: np.ndarray, nfft: int, columns: int) -> np.ndarray:
    """rfft(pmfs, nfft) over the last axis, its first ``columns`` coefficients: (rows, sizes,
    columns), complex."""
    width = pmfs.shape[-1]
    if width > _DIRECT_DFT_UP_TO:
        out: np.ndarray = np.fft.rfft(pmfs, nfft, axis=-1)[..., :columns]
        return out
    # (cos, -sin) interleaved: the real product's rows are the complex coefficients
    coefficients: np.ndarray = (pmfs @ _dft_matrix(nfft, width)[:, : 2 * columns]).view(complex)
    return coefficients


@lru_cache(maxsize=32)  # a few nfft per histogram
def _dft_matrix(nfft: int, width: int) -> np.ndarray:
    """exp(-2 pi i k j / nfft) for k < width, j <= nfft / 2, as (width, 2 (nfft // 2 + 1))
    doubles (real and imaginary parts interleaved); the angle from k j mod nfft (exact in
    integers), so every entry is the correctly rounded cosine and sine."""
    kj = np.outer(np.arange(width), np.arange(nfft // 2 + 1)) % nfft
    angle = (2 * math.pi / nfft) * kj
    out = np.empty((width, 2 * (nfft // 2 + 1)))
    out[:, 0::2] = np.cos(angle)
    out[:, 1::2] = -np.sin(angle)
    out.setflags(write=False)
    return out


#: When some size is held by at least this many clusters, every transform is raised to its
#: count in polar form (exp(count log F)); else by numpy's exact integer power (repeated
#: multiplication: below 100).
_POLAR_FROM = 64
#: Transform coefficients of the product smaller than e^this are left out (0): each moves
#: every pmf value by less than 2 e^-80 (about 4e-35).
_LOG_NEGLIGIBLE = -80.0


#: The convolution is computed on counts below L, where P(K >= L) <= TRUNCATION_MASS for
#: every rho (a Chernoff bound): the mass beyond, which would wrap around or be cut off,
#: changes no tail by more than this.
TRUNCATION_MASS = 1e-20
_THETAS = np.array([0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0])


def _support(pmfs: np.ndarray, grid: _SizeGrid, counts: np.ndarray, n: int) -> np.ndarray:
    """For each row, the smallest L <= n + 1 with P(K >= L) <= TRUNCATION_MASS, from
    P(K >= L) <= exp(-theta L) prod_g E exp(theta K_g) minimised over a grid of theta
    (``pmfs`` as _bb_pmfs gives them for the sizes of ``grid``, held by ``counts`` clusters)."""
    # E exp(theta K_g) = exp(theta m) sum_k pmf_k exp(theta (k - m)): no overflow; a theta
    # whose scaled sum is so small that underflowed terms could matter is not used
    scaled = np.einsum("rsk,skt->rst", pmfs, grid.mgf_weights)
    with np.errstate(divide="ignore"):
        log_sum = np.where(scaled > 1e-250, np.log(np.maximum(scaled, 1e-300)), np.inf)
    log_mgf = np.einsum("s,rst->rt", counts, log_sum + grid.theta_m)
    need = np.min((log_mgf - math.log(TRUNCATION_MASS)) / _THETAS[None, :], axis=1)
    with np.errstate(invalid="ignore"):
        out: np.ndarray = np.where(
            np.isfinite(need) & (need < n), np.maximum(1, np.ceil(need) + 1), n + 1
        ).astype(np.int64)
    return out


def _degenerate(p: float, n: int) -> np.ndarray | None:
    """The pmf of K when p is 0 or 1 (K = 0 or K = n surely), else None."""
    if 0 < p < 1:
        return None
    pmf = np.zeros((1, n + 1))
    pmf[0, 0 if p <= 0 else n] = 1.0
    return pmf


def _tail_low(k: int, p: float, sizes: ClusterSizes, rhos: tuple[float, ...]) -> float:
    """sup over rho of P(K <= k), 0 <= k < n, by a sum over the truncated pmf (no cumulative
    sums); rho = 0 is the binomial tail (bdtr)."""
    n = sizes.n
    if p > 0.5:  # the mirror image: P(K <= k) = P(K' >= n - k), K' the other outcome's count
        return _tail_high(n - k, 1.0 - p, sizes, rhos)
    rows = _degenerate(p, n)
    if rows is None:
        rows = _truncated_pmf(p, sizes, rhos)
    best = float(rows[:, : k + 1].sum(axis=1).max()) if len(rows) else 0.0
    if 0 < p < 1 and min(rhos) <= 0:
        best = max(best, float(special.bdtr(k, n, p)))
    return min(best, 1.0)


def _tail_high(k: int, p: float, sizes: ClusterSizes, rhos: tuple[float, ...]) -> float:
    """sup over rho of P(K >= k), 0 < k <= n, as _tail_low (a direct sum: no 1 - x)."""
    n = sizes.n
    if p > 0.5:
        return _tail_low(n - k, 1.0 - p, sizes, rhos)
    rows = _degenerate(p, n)
    if rows is None:
        rows = _truncated_pmf(p, sizes, rhos)
    best = float(rows[:, k:].sum(axis=1).max()) if len(rows) and k < rows.shape[1] else 0.0
    if 0 < p < 1 and min(rhos) <= 0:
        best = max(best, float(special.bdtrc(k - 1, n, p)))
    return min(best, 1.0)


def _tail_none(p: float, sizes: ClusterSizes, rhos: tuple[float, ...]) -> float:
    """sup over rho of P(K = 0) = prod_g P(BB(n_g, p, rho) = 0), in closed form (no
    convolution): log P(BB(m) = 0) = betaln(a, m + b) - betaln(a, b), m log(1 - p) at rho 0."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    best = -math.inf
    for rho in rhos:
        log = 0.0
        for m, count in sizes.exact_counts():
            if rho <= 0 or m == 1:
                log += count * m * math.log1p(-p)
            else:
                s = (1 - rho) / rho
                a, b = p * s, (1 - p) * s
                log += count * float(special.betaln(a, m + b) - special.betaln(a, b))
        best = max(best, log)
    return min(1.0, math.exp(best))


def _normal_tail(
    k: int, p: float, sizes: ClusterSizes, rhos: Sequence[float], lower: bool
) -> float:
    """sup over rho of the continuity-corrected normal P(K <= k) (or P(K >= k)), with
    Var K = p (1 - p) sum_g n_g (1 + (n_g - 1) rho). The normal tail is monotone in the
    variance on either side of the mean, so the supremum is at the smallest or largest rho."""
    n = sizes.n
    out = 0.0
    for rho in (min(rhos), max(rhos)):
        var = p * (1 - p) * (n + rho * (sizes.sum_sq - n))
        sd = math.sqrt(var) if var > 0 else 1e-300
        z = (k + 0.5 - n * p) / sd if lower else (n * p - (k - 0.5)) / sd
        out = max(out, 0.5 * math.erfc(-z / math.sqrt(2)))
    return out


def tail_at_most(
    k: int,
    p: float,
    sizes: ClusterSizes,
    rhos: Sequence[float] = RHO_GRID,
    exact_up_to: int = EXACT_UP_TO,
) -> float:
    """sup over rho of P(K <= k) when each cluster's count is BB(n_g, p, rho)."""
    if k < 0:
        return 0.0
    if k >= sizes.n:
        return 1.0
    if sizes.n > exact_up_to:
        return _normal_tail(k, p, sizes, rhos, lower=True)
    if _ones_only(sizes):
        return float(special.bdtr(k, sizes.n, p))
    if k == 0:
        return _tail_none(float(p), sizes, tuple(rhos))
    return _tail_low(k, float(p), sizes, tuple(rhos))


def tail_at_least(
    k: int,
    p: float,
    sizes: ClusterSizes,
    rhos: Sequence[float] = RHO_GRID,
    exact_up_to: int = EXACT_UP_TO,
) -> float:
    """sup over rho of P(K >= k)."""
    if k <= 0:
        return 1.0
    if k > sizes.n:
        return 0.0
    if sizes.n > exact_up_to:
        return _normal_tail(k, p, sizes, rhos, lower=False)
    if _ones_only(sizes):
        return float(special.bdtrc(k - 1, sizes.n, p))
    if k == sizes.n:  # P(K = n): the count of the other outcome is 0, at 1 - p
        return _tail_none(1.0 - float(p), sizes, tuple(rhos))
    return _tail_high(k, float(p), sizes, tuple(rhos))
