"""Counts (shares, failure ratios): the worst-case test and its inverted bounds.

Part of the clustered methods (netmeasure.evaluate.clustered: sources in its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

from netmeasure.evaluate.clustered.design import (
    EXACT_UP_TO,
    ICC_MAX,
    RHO_GRID,
    ClusterSizes,
    alpha_of,
)
from netmeasure.evaluate.clustered.distribution import (
    _ones_only,
    _pmf_rows,
    tail_at_least,
    tail_at_most,
)

# -- counts: tests and bounds ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountBounds:
    """One-sided bounds on a clustered proportion (None: no bound, e.g. one cluster)."""

    low: float | None
    high: float | None
    method: str


METHOD_COUNT = "beta-binomial-worst-case"


@lru_cache(maxsize=4096)  # pure; groups with the same sizes and count repeat it
def proportion_bounds(k: float, sizes: ClusterSizes, confidence: float = 0.95) -> CountBounds:
    """Bounds on p from k of n outcomes in clusters: low is the p at which the worst-case
    P(K >= k) is 1 - c, high the p at which the worst-case P(K <= k) is 1 - c."""
    if sizes.clusters < 2:
        return CountBounds(None, None, METHOD_COUNT)
    alpha = alpha_of(confidence)
    kk = round(k)
    n = sizes.n
    if not 0 <= kk <= n:
        raise ValueError(f"k ({k}) must be between 0 and n ({n})")
    low = high = None
    if kk == 0:
        low = 0.0
    if kk == n:
        high = 1.0
    z_alpha = float(special.ndtri(alpha))
    guesses = {}
    if low is None:
        guesses[True] = _normal_guess(kk, sizes, alpha, low=True)
    if high is None:
        guesses[False] = _normal_guess(kk, sizes, alpha, low=False)
    # the exact tails of both roots in few batched transforms (0 < k < n, exact, not all
    # clusters of one trial: the other cases are closed forms or the normal tails, cheap)
    found: dict[bool, float | None] = {}
    if 0 < kk < n and n <= EXACT_UP_TO and not _ones_only(sizes):
        found = _count_roots(kk, sizes, alpha, guesses)
    if low is None:
        low = found.get(True)
        if low is None:
            guess = guesses[True]
            low = _root(
                lambda p: _z(tail_at_least(kk, p, sizes)) - z_alpha, guess, _spread(guess, sizes)
            )
    if high is None:
        high = found.get(False)
        if high is None:
            guess = guesses[False]
            high = _root(
                lambda p: z_alpha - _z(tail_at_most(kk, p, sizes)), guess, _spread(guess, sizes)
            )
    return CountBounds(low, high, METHOD_COUNT)


def _normal_guess(k: int, sizes: ClusterSizes, alpha: float, low: bool) -> float:
    """The root of the normal approximation that brackets the exact root: for ``low`` the p
    where sup_rho P(K >= k) = alpha under _normal_tail (1 <= k <= n), else the p where
    sup_rho P(K <= k) = alpha (0 <= k < n), over rho in {0, ICC_MAX} as _normal_tail takes
    them from RHO_GRID. Each rho's continuity-corrected tail is monotone in p, so the root is
    where (n p - c)^2 = z^2 p (1 - p) V, V = n + rho (sum n_g^2 - n), z = z(alpha), c = k -+
    1/2: the lower or upper root of that quadratic (the Wilson score bound with the design
    effect and continuity correction), the supremum's the smallest (largest) over rho. In
    closed form, where brentq on the tails took about twenty evaluations to 1e-7 (the guess
    only centres the bracket)."""
    if not 0 < alpha < 0.5:  # not a one-sided level below 1/2: brentq on the tails
        if low:
            return _root(lambda p: tail_at_least(k, p, sizes, exact_up_to=0) - alpha, xtol=1e-7)
        return _root(lambda p: alpha - tail_at_most(k, p, sizes, exact_up_to=0), xtol=1e-7)
    n = sizes.n
    z2 = float(special.ndtri(alpha)) ** 2
    c = k - 0.5 if low else k + 0.5
    roots = []
    for rho in (min(RHO_GRID), max(RHO_GRID)):
        zv = z2 * (n + rho * (sizes.sum_sq - n))
        a, b = n * n + zv, 2 * n * c + zv
        disc = math.sqrt(max(b * b - 4 * a * c * c, 0.0))
        # the lower root as 2 c^2 / (b + sqrt D): no cancellation
        roots.append(2 * c * c / (b + disc) if low else (b + disc) / (2 * a))
    guess = min(roots) if low else max(roots)
    return min(max(guess, 1e-12), 1 - 1e-12)


#: Half the width of the interval around an interpolated root that _count_roots checks for a
#: sign change: the root is then within this of the point returned (the brentq path's xtol
#: is 1e-10).
_CONFIRM_HALF_WIDTH = 5e-11
#: Batched transforms _count_roots spends on a root before leaving it to brentq: the three
#: points, then up to this many - 1 checks (each check's two points also give the next
#: estimate: a secant on two points 2h apart, so each step squares the error).
_QUICK_STAGES = 6
_RHOS_POSITIVE = np.array([r for r in RHO_GRID if r > 0])
_RHO_TOP = np.array([ICC_MAX])


def _count_roots(
    k: int, sizes: ClusterSizes, alpha: float, guesses: Mapping[bool, float]
) -> dict[bool, float | None]:
    """The roots of proportion_bounds for 0 < k < n with the exact tails: for the lower bound
    (key True) the p where sup_rho P_p(K >= k) = 1 - c, for the upper (False) the p where
    sup_rho P_p(K <= k) = 1 - c, each within _CONFIRM_HALF_WIDTH, or None where this quick
    path does not establish it (the caller then brackets from the guess and runs brentq).

    Both roots are sought together, each step one batched transform of all their points. On
    the z scale, f(p) = z(tail) - z(1 - c) (the lower bound; 1 - c and the tail swapped for
    the upper) is increasing and nearly linear in p. First f at the guess and at guess +-
    _spread, with rho in {0, ICC_MAX} only (the worst case is at ICC_MAX in every design
    the tests check: the tail of a count away from its mean grows with the dispersion); the
    root r of the quadratic through the three points (inverse interpolation, as brentq's
    step) is the estimate. Then the check: f(r - h) <= 0 <= f(r + h), h =
    _CONFIRM_HALF_WIDTH, for the supremum over the whole grid RHO_GRID. On the side where
    the supremum must be below 1 - c every rho of the grid is computed; on the side where it
    must be above, at the first check ICC_MAX suffices (the supremum is at least that; at
    later checks the whole grid, in case the worst case is elsewhere). f is monotone, so the
    root is then in [r - h, r + h]: the root brentq finds to its xtol 1e-10, typically with
    two batched transforms instead of about ten single ones. Where the check fails, the
    secant through the two points checked is the next estimate; after _QUICK_STAGES
    transforms, or where an estimate leaves (0, 1), the caller's brentq path decides."""
    sides = list(guesses)
    h = _CONFIRM_HALF_WIDTH
    lo_p, hi_p = 1e-12, 1 - 1e-12
    xs = np.empty((len(sides), 3))
    for i, side in enumerate(sides):
        g = guesses[side]
        w = _spread(g, sizes)
        xs[i] = (max(lo_p, g - w), g, min(hi_p, g + w))
    fz = _root_function(xs.ravel(), k, sides, 3, [_RHO_TOP] * xs.size, sizes, alpha)
    fz = fz.reshape(len(sides), 3)
    estimates: dict[bool, float] = {}
    for side, x, fx in zip(sides, xs, fz, strict=True):
        if fx[0] < fx[1] < fx[2]:
            estimates[side] = _inverse_quadratic(x, fx)
    out: dict[bool, float | None] = dict.fromkeys(sides)
    whole: set[bool] = set()  # the roots checked with the whole grid on both sides
    for _ in range(1, _QUICK_STAGES):
        todo = [s for s in sides if s in estimates and lo_p + h < estimates[s] < hi_p - h]
        if not todo:
            break
        # per root: r - h, then r + h; the grid on the side that must be below 1 - c (r - h
        # for the lower bound, r + h for the upper), on the other side only ICC_MAX until a
        # check has failed
        points = [estimates[s] + d for s in todo for d in (-h, h)]
        rho_sets = []
        for s in todo:
            other = _RHOS_POSITIVE if s in whole else _RHO_TOP
            rho_sets += [_RHOS_POSITIVE, other] if s else [other, _RHOS_POSITIVE]
        fz = _root_function(np.array(points), k, todo, 2, rho_sets, sizes, alpha)
        for i, s in enumerate(todo):
            f_below, f_above = float(fz[2 * i]), float(fz[2 * i + 1])
            r = estimates.pop(s)
            if f_below <= 0 <= f_above:
                out[s] = r
                continue
            if f_above > f_below:
                estimates[s] = r - h - f_below * (2 * h) / (f_above - f_below)
            elif s not in whole:
                estimates[s] = r  # the worst case is not at ICC_MAX here: again, whole grid
            whole.add(s)
    return out


def _root_function(
    ps: np.ndarray,
    k: int,
    sides: Sequence[bool],
    per_side: int,
    rho_sets: Sequence[np.ndarray],
    sizes: ClusterSizes,
    alpha: float,
) -> np.ndarray:
    """_count_roots's increasing root functions at the points ``ps`` (``per_side``
    consecutive points for each of ``sides``): z(sup P(K >= k)) - z(1 - c) for the lower
    bound (True), z(1 - c) - z(sup P(K <= k)) for the upper, the supremum over {0} and each
    point's rho set; z as _z (the brentq path's function)."""
    upper = np.repeat(np.array(sides, dtype=bool), per_side)
    z = _z_array(_sup_tails(ps, k, upper, rho_sets, sizes)) - float(special.ndtri(alpha))
    out: np.ndarray = np.where(upper, z, -z)
    return out


def _inverse_quadratic(x: np.ndarray, f: np.ndarray) -> float:
    """The x where the quadratic through (f_i, x_i), i = 0..2, is at f = 0 (f strictly
    increasing): Lagrange's form of x as a function of f (as brentq's inverse quadratic
    step)."""
    f0, f1, f2 = (float(v) for v in f)
    x0, x1, x2 = (float(v) for v in x)
    return (
        x0 * f1 * f2 / ((f0 - f1) * (f0 - f2))
        + x1 * f0 * f2 / ((f1 - f0) * (f1 - f2))
        + x2 * f0 * f1 / ((f2 - f0) * (f2 - f1))
    )


def _z_array(tails: np.ndarray) -> np.ndarray:
    """_z of each tail."""
    out: np.ndarray = special.ndtri(np.clip(tails, 1e-300, 1.0 - 2.0**-53))
    return out


def _sup_tails(
    ps: np.ndarray,
    k: int,
    upper: np.ndarray,
    rho_sets: Sequence[np.ndarray],
    sizes: ClusterSizes,
) -> np.ndarray:
    """For each point i: sup over rho in {0} and rho_sets[i] (each rho > 0) of P(K >= k) if
    upper[i] else P(K <= k) at ps[i], 0 < k < n, 0 < p < 1, by the exact distribution; as
    tail_at_least / tail_at_most (p > 1/2 mirrored: P_p(K >= k) = P_{1-p}(K' <= n - k), the
    tails direct sums over the truncated pmfs, rho = 0 the binomial tail), for all points
    from one batched transform."""
    n = sizes.n
    mirror = ps > 0.5
    q = np.where(mirror, 1.0 - ps, ps)
    kq = np.where(mirror, n - k, k)
    up = upper != mirror
    counts = np.array([len(r) for r in rho_sets])
    row_point = np.repeat(np.arange(len(ps)), counts)
    pmf = _pmf_rows(q[row_point], np.concatenate(rho_sets), sizes)
    x = np.arange(pmf.shape[1])
    k_row = kq[row_point][:, None]
    mask = np.where(up[row_point][:, None], x >= k_row, x <= k_row)
    row_tails = np.einsum("rx,rx->r", pmf, mask.astype(float))
    best = np.zeros(len(ps))
    np.maximum.at(best, row_point, row_tails)
    binomial = np.where(up, special.bdtrc(kq - 1, n, q), special.bdtr(kq, n, q))
    out: np.ndarray = np.minimum(np.maximum(best, binomial), 1.0)
    return out


def _z(tail: float) -> float:
    """The normal quantile of a tail probability (finite: the tail is clipped to (0, 1)). The
    root-finder works on z(tail) - z(1 - c), which has the sign of tail - (1 - c) and is
    nearly linear in p, so it converges in a few steps where tail - (1 - c) takes many."""
    return float(special.ndtri(min(max(tail, 1e-300), 1.0 - 2.0**-53)))


def _spread(p: float, sizes: ClusterSizes) -> float:
    """A twentieth of the standard error of K / n at p and ICC_MAX: the first bracket's half-width
    around the normal approximation's root (the exact root is usually well inside)."""
    var = p * (1 - p) * (sizes.n + ICC_MAX * (sizes.sum_sq - sizes.n))
    return max(0.05 * math.sqrt(max(var, 0.0)) / sizes.n, 1e-9)


def _root(
    f: Callable[[float], float],
    guess: float | None = None,
    width: float = 0.01,
    xtol: float = 1e-10,
) -> float:
    """The p in (0, 1) where the increasing function f crosses 0 (to ``xtol`` absolute: the
    relative tolerance is brentq's least, 4 eps, so bounds near 1 are as exact as near 0),
    bracketed from ``guess`` (the normal approximation's root) outwards, starting at
    +- ``width``, when one is given."""
    lo, hi = 1e-12, 1 - 1e-12
    if guess is not None:
        a, b = max(lo, guess - width), min(hi, guess + width)
        fa, fb = f(a), f(b)
        step = width
        # widen towards the root: at least a step (growing fourfold), or a quarter beyond the
        # secant's estimate from the last two points (f is nearly linear on the z scale);
        # the end left behind closes the bracket on the other side
        while fa > 0 and a > lo:
            est = a - fa * (a - b) / (fa - fb) if fb > fa else -math.inf
            b, fb = a, fa
            a = max(lo, min(a - step, est - 0.25 * (b - est)))
            fa, step = f(a), step * 4
        while fb < 0 and b < hi:
            est = b - fb * (b - a) / (fb - fa) if fb > fa else math.inf
            a, fa = b, fb
            b = min(hi, max(b + step, est + 0.25 * (est - a)))
            fb, step = f(b), step * 4
        lo, hi = a, b
    if f(lo) >= 0:
        return lo
    if f(hi) <= 0:
        return hi
    return _brentq(f, lo, hi, xtol=xtol, rtol=4 * _EPS)


#: the double's machine epsilon: brentq's least relative tolerance is 4 of it
_EPS = float(np.finfo(float).eps)


def _brentq(f: Callable[[float], float], xa: float, xb: float, xtol: float, rtol: float) -> float:
    """scipy.optimize.brentq (Brent 1973, "Algorithms for minimization without derivatives",
    ch. 4), ported step for step from scipy's Zeros/brentq.c (C. Harris), with its defaults
    maxiter = 100 and disp: the same iterates, so the same root, without importing
    scipy.optimize (a heavy import for this one function). f(xa) and f(xb) must
    differ in sign; the signs compared as the current C code does (signbit: no product)."""
    xpre, xcur = xa, xb
    xblk = fblk = spre = scur = 0.0
    fpre, fcur = _checked(f, xpre), _checked(f, xcur)
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    if math.copysign(1.0, fpre) == math.copysign(1.0, fcur):
        raise ValueError("f(a) and f(b) must have different signs")
    for _ in range(100):
        if fpre != 0 and fcur != 0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:
                # interpolate
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:
                # extrapolate
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):
                # good short step
                spre, scur = scur, stry
            else:
                spre = scur = sbis
        else:
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        if abs(scur) > delta:
            xcur += scur
        else:
            xcur += delta if sbis > 0 else -delta
        fcur = _checked(f, xcur)
    raise RuntimeError("brentq: failed to converge after 100 iterations")


def _checked(f: Callable[[float], float], x: float) -> float:
    """f(x), refusing NaN (as scipy's brentq does: it would never converge)."""
    fx = f(x)
    if math.isnan(fx):
        raise ValueError(f"the function value at x={x} is NaN; solver cannot continue")
    return fx


def exceeds(
    k: float,
    sizes: ClusterSizes,
    p0: float,
    confidence: float = 0.95,
    exact_up_to: int = EXACT_UP_TO,
) -> bool:
    """The test behind ``low >= p0``: sup_rho P_{p0}(K >= k) <= 1 - c."""
    if sizes.clusters < 2:
        return False
    tail = tail_at_least(round(k), p0, sizes, exact_up_to=exact_up_to)
    return tail <= alpha_of(confidence)


def falls_short(
    k: float,
    sizes: ClusterSizes,
    p0: float,
    confidence: float = 0.95,
    exact_up_to: int = EXACT_UP_TO,
) -> bool:
    """The test behind ``high <= p0``: sup_rho P_{p0}(K <= k) <= 1 - c."""
    if sizes.clusters < 2:
        return False
    tail = tail_at_most(round(k), p0, sizes, exact_up_to=exact_up_to)
    return tail <= alpha_of(confidence)


@lru_cache(maxsize=4096)  # pure; groups with the same sizes and count repeat it
def pass_region(
    sizes: ClusterSizes, p0: float, confidence: float = 0.95
) -> tuple[int | None, int | None]:
    """(smallest k with sup P_{p0}(K >= k) <= 1-c, largest k with sup P_{p0}(K <= k) <= 1-c):
    the counts at which the bounds clear p0 from above / below (None: no such count)."""
    if sizes.clusters < 2:
        return None, None
    alpha = alpha_of(confidence)
    # both tails are monotone in k: bisection, each step one sum over the (cached) pmf
    n = sizes.n
    above = _first(lambda k: tail_at_least(k, p0, sizes) <= alpha, n)
    below = _first(lambda k: tail_at_most(k, p0, sizes) > alpha, n) - 1
    return (above if above <= n else None), (below if below >= 0 else None)


def _first(pred: Callable[[int], bool], n: int) -> int:
    """The smallest k in [0, n + 1] with pred(k), pred monotone (false, then true)."""
    lo, hi = -1, n + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pred(mid) else (mid, hi)
    return hi
