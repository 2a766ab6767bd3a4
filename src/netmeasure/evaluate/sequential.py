"""Group-sequential boundaries: alpha-spending functions and the boundaries they give at each
look, by recursive numerical integration.

A campaign looked at K times (after every batch, every day) and stopped at the first PASS is
optional stopping: each look's one-shot bound is valid for one look only, and with truth at
the threshold a PASS at some look of a two-week hourly-watched campaign comes up about one
time in three (docs/statistics.md, "Optional stopping"). A group-sequential design spends the
error rate alpha over the looks instead:

- Lan & DeMets (1983), "Discrete sequential boundaries for clinical trials", Biometrika
  70(3):659-663: the alpha spent by information fraction t is a function alpha(t), increasing
  from 0 to alpha at t = 1; a look at any t (planned or not) spends alpha(t) - alpha(t_prev).
  O'Brien-Fleming-type alpha(t) = 2 (1 - Phi(z_{1-alpha/2} / sqrt(t))); Pocock-type
  alpha(t) = alpha log(1 + (e - 1) t).
- Armitage, McPherson & Rowe (1969), "Repeated significance tests on accumulating data",
  JRSS A 132:235-244, and Jennison & Turnbull (2000), "Group Sequential Methods with
  Applications to Clinical Trials", ch. 7 and 19: the boundary z_k at look k solves
  P(Z_1 < z_1, ..., Z_{k-1} < z_{k-1}, Z_k >= z_k) = alpha(t_k) - alpha(t_{k-1}) under the
  canonical joint distribution (score S_k = Z_k sqrt(t_k) with independent normal
  increments), integrated here on a grid.

netmeasure's verdicts are two one-sided tests (PASS: the compliant side; FAIL: the other),
each at level alpha = 1 - confidence; each spends its own alpha on its own upper boundary
(non-binding: the other test's stopping is ignored, which can only make each conservative).
A look's boundary z_k is turned into the nominal level 1 - Phi(z_k) at which the statistic's
own fixed-n test (Clopper-Pearson, the clustered worst case, CR2 t, order statistics) is
applied at that look (Jennison & Turnbull 2000, §3.4 and ch. 12: nominal significance
levels for exact and t statistics); a mean's bounds there are widened for skewness
(estimates.skew_widened: the t approximation's tail error grows with the small nominal
levels of the early looks).

The integration: the sub-density of S_k on the continuation region is kept on a grid and
taken as piecewise linear between grid points; each step's convolution with the normal
increment, and each look's crossing probability, is then integrated in closed form (the
integrals of (a + b s) phi and (a + b s) Phi are elementary), which stays exact however
short the step between two looks is (an unplanned look one sample after a planned one).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
from scipy import special

from netmeasure.campaign_plan import SPENDING_FUNCTIONS

#: Grid step of the integration, in units of the score's standard deviation at the look.
#: Linear interpolation of a smooth density: error O(step^2); at 0.01 the boundaries of
#: Jennison & Turnbull's tables agree to 1e-4 (tests/test_sequential.py).
GRID_STEP: Final = 0.02
#: The grid's lower end, in standard deviations below 0: the mass below is < 1e-23.
GRID_LOW_SD: Final = 8.0
#: A look whose nominal level is below this decides nothing (its bound would be the
#: confidence 1 - 1e-9, where the clustered tests' root-finders lose their digits): the
#: verdict stays INCONCLUSIVE, and the look is reported with its boundary.
MIN_NOMINAL_ALPHA: Final = 1e-9


def _phi(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi))


def _cdf(x: np.ndarray) -> np.ndarray:
    return np.asarray(special.ndtr(x))


def alpha_spent(spending: str, t: float, alpha: float) -> float:
    """alpha(t): the one-sided error spent by information fraction t (0 at t <= 0, alpha at
    t >= 1; Lan & DeMets 1983)."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    if spending == "obrien-fleming":
        z = float(special.ndtri(1.0 - alpha / 2.0))
        return float(2.0 * special.ndtr(-z / math.sqrt(t)))
    if spending == "pocock":
        return alpha * math.log1p((math.e - 1.0) * t)
    raise ValueError(f"unknown spending function {spending!r}: one of {SPENDING_FUNCTIONS}")


@dataclass(frozen=True, slots=True)
class _Density:
    """The sub-density of the score S_k on its continuation region, on a grid (piecewise
    linear between the points): what looks k+1, ... integrate over."""

    t: float  # information fraction of the look
    s: np.ndarray  # grid, ascending, the last point the boundary (S < upper continues)
    f: np.ndarray  # density values at the grid points


def _first_density(t: float, upper: float) -> _Density:
    sd = math.sqrt(t)
    hi = upper * sd
    lo = min(-GRID_LOW_SD * sd, hi - sd)
    m = max(3, math.ceil((hi - lo) / (GRID_STEP * sd)) + 1)
    s = np.linspace(lo, hi, m)
    return _Density(t, s, _phi(s / sd) / sd)


def _segments(d: _Density) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per grid segment [s_j, s_j+1]: its ends and the line a + b s through the density."""
    s0, s1 = d.s[:-1], d.s[1:]
    f0, f1 = d.f[:-1], d.f[1:]
    b = (f1 - f0) / (s1 - s0)
    a = f0 - b * s0
    return s0, s1, a, b


def _exceed(d: _Density, t: float, c: np.ndarray) -> np.ndarray:
    """P(continue at d's look, S_t >= c) for each c: the integral of the density times
    P(increment >= c - s), in closed form per linear segment."""
    sd = math.sqrt(t - d.t)
    s0, s1, a, b = _segments(d)
    c = np.atleast_1d(np.asarray(c, dtype=float))[:, None]
    # integral over [s0, s1] of (a + b s) Phi((s - c) / sd) ds; u = (s - c) / sd
    u0, u1 = (s0 - c) / sd, (s1 - c) / sd
    p0, p1 = _cdf(u0), _cdf(u1)
    d0, d1 = _phi(u0), _phi(u1)
    i0 = (u1 * p1 + d1) - (u0 * p0 + d0)  # integral of Phi(u) du
    i1 = ((u1 * u1 - 1) * p1 + u1 * d1 - (u0 * u0 - 1) * p0 - u0 * d0) / 2  # of u Phi(u)
    val = sd * ((a + b * c) * i0 + b * sd * i1)
    return np.asarray(val.sum(axis=1))


def _next_density(d: _Density, t: float, upper: float) -> _Density:
    """The sub-density of S_t on S_t < upper sqrt(t), having continued at d's look."""
    sd_t = math.sqrt(t)
    hi = upper * sd_t
    lo = min(-GRID_LOW_SD * sd_t, hi - sd_t)
    m = max(3, math.ceil((hi - lo) / (GRID_STEP * sd_t)) + 1)
    grid = np.linspace(lo, hi, m)
    sd = math.sqrt(t - d.t)
    _, _, a, b = _segments(d)
    x = grid[:, None]
    # integral over [s0, s1] of (a + b s) phi((x - s) / sd) / sd ds; u = (s - x) / sd.
    # Phi and phi at every (new point, old point) once: a segment's ends are its
    # neighbours' ends too.
    u = (d.s[None, :] - x) / sd
    p, q = _cdf(u), _phi(u)
    f = ((a + b * x) * np.diff(p, axis=1) - b * sd * np.diff(q, axis=1)).sum(axis=1)
    return _Density(t, grid, np.maximum(f, 0.0))


def _solve(d: _Density, t: float, target: float) -> float:
    """The z boundary at fraction t with crossing probability ``target`` after d's look."""
    if target <= 0:
        return math.inf
    sd = math.sqrt(t)

    def g(z: float) -> float:
        return float(_exceed(d, t, np.array([z * sd]))[0]) - target

    lo, hi = -2.0, 2.0
    while g(hi) > 0:
        hi *= 2.0
        if hi > 1e3:
            return math.inf
    while g(lo) < 0:
        lo -= 4.0
        if lo < -1e3:
            return -math.inf
    from scipy.optimize import brentq

    return float(brentq(g, lo, hi, xtol=1e-10, rtol=1e-12))


@lru_cache(maxsize=1024)
def _planned(
    fractions: tuple[float, ...], spending: str, alpha: float
) -> tuple[tuple[float, ...], _Density | None]:
    """Boundaries at the planned fractions and the density after the last of them (each
    prefix cached: a plan's looks are computed once per process)."""
    if not fractions:
        return (), None
    *earlier, t = fractions
    prev = earlier[-1] if earlier else 0.0
    before, d = _planned(tuple(earlier), spending, alpha)
    inc = alpha_spent(spending, t, alpha) - alpha_spent(spending, prev, alpha)
    if d is None:
        # nothing crosses 40 sd: the same as no boundary
        z = min(float(-special.ndtri(inc)) if inc > 0 else math.inf, 40.0)
        return (z,), _first_density(t, z)
    z = min(_solve(d, t, inc), 40.0)
    return (*before, z), _next_density(d, t, z)


def boundaries(fractions: tuple[float, ...], spending: str, alpha: float) -> tuple[float, ...]:
    """The one-sided z boundaries at looks taken at ``fractions`` (increasing, > 0)."""
    if any(b <= a for a, b in itertools.pairwise(fractions)) or (fractions and fractions[0] <= 0):
        raise ValueError(f"information fractions must increase from above 0: {fractions}")
    *earlier, last = fractions
    before, d = _planned(tuple(earlier), spending, alpha)
    return (*before, _last_boundary(d, tuple(earlier), last, spending, alpha))


def _last_boundary(
    d: _Density | None,
    earlier: tuple[float, ...],
    t: float,
    spending: str,
    alpha: float,
    spent: float | None = None,
) -> float:
    """The boundary at t after the looks ``earlier``; ``spent``: the alpha spent by t, if
    not the spending function's own (an unplanned look, plan_spent)."""
    prev = earlier[-1] if earlier else 0.0
    total = alpha_spent(spending, t, alpha) if spent is None else spent
    inc = total - alpha_spent(spending, prev, alpha)
    if inc <= 0:
        return math.inf
    if d is None:
        return float(-special.ndtri(inc))
    return _solve(d, t, inc)


def crossing_probabilities(
    fractions: tuple[float, ...], upper: tuple[float, ...], drift: float = 0.0
) -> tuple[float, ...]:
    """P(first crossing of ``upper`` at look k) for each k, the score drifting by ``drift``
    per unit information (0: the null); what the boundaries are checked with. The centred
    score W_t = S_t - drift t is the null's, and crosses where S_t >= z sqrt(t) does when
    W_t >= z sqrt(t) - drift t."""
    out = []
    d: _Density | None = None
    for t, z in zip(fractions, upper, strict=True):
        zw = z - drift * math.sqrt(t)
        if d is None:
            out.append(float(special.ndtr(-zw)))
            d = _first_density(t, zw)
        else:
            out.append(float(_exceed(d, t, np.array([zw * math.sqrt(t)]))[0]))
            d = _next_density(d, t, zw)
    return tuple(out)


# -- a look of a campaign ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Look:
    """One evaluation of a campaign under a plan: which look it is and its boundary.

    ``fractions``: the information fractions of the looks so far (the planned ones before
    this look, then this look's own); ``boundary_z`` the one-sided z boundary of this look;
    ``nominal_alpha`` = 1 - Phi(boundary_z), the level each one-sided fixed-n test is run at.
    """

    number: int
    looks: int
    information_fraction: float
    planned: bool  # this look's fraction is one of the plan's
    alpha: float
    alpha_spent: float
    boundary_z: float
    nominal_alpha: float
    final: bool  # the plan's last look or beyond (t >= 1)

    @property
    def decidable(self) -> bool:
        return self.nominal_alpha >= MIN_NOMINAL_ALPHA

    @property
    def nominal_confidence(self) -> float:
        return 1.0 - self.nominal_alpha


#: Between two planned looks the plan spends its interval's alpha as the square of the
#: interval's elapsed share (plan_spent): at the planned looks exactly Lan-DeMets, at an
#: unplanned look less. A stateless evaluation cannot count the unplanned looks a team took
#: between two planned ones, and each spends its interval again; with the square, three
#: unplanned looks a day on a daily plan added at most 0.4 points of false PASS / FAIL, where
#: the spending function's own value at t added up to 0.8 (analysis/sequential_study.py).
UNPLANNED_POWER: Final = 2.0


def plan_spent(fractions: tuple[float, ...], t: float, spending: str, alpha: float) -> float:
    """The alpha a plan with looks at ``fractions`` has spent by fraction t: the spending
    function at the planned fractions and from the last one on; between two planned looks
    f_{k-1} < t < f_k, alpha(f_{k-1}) + (alpha(f_k) - alpha(f_{k-1})) u^UNPLANNED_POWER with
    u = (t - f_{k-1}) / (f_k - f_{k-1}). It is itself a spending function (increasing, fixed
    by the plan before any data), so a look at any t keeps the Lan-DeMets guarantee."""
    if t <= 0:
        return 0.0
    if t >= fractions[-1]:
        return alpha_spent(spending, t, alpha)
    k = next(i for i, f in enumerate(fractions) if f >= t)
    hi = fractions[k]
    lo = fractions[k - 1] if k else 0.0
    a_lo = alpha_spent(spending, lo, alpha)
    a_hi = alpha_spent(spending, hi, alpha)
    u = (t - lo) / (hi - lo)
    return float(a_lo + (a_hi - a_lo) * u**UNPLANNED_POWER)


def look_at(fractions: tuple[float, ...], t: float, spending: str, alpha: float) -> Look:
    """The look an evaluation at fraction ``t`` is, with the plan's look fractions
    ``fractions`` (increasing, the last 1): look k is the first planned look at or after
    t (the looks before it are taken at the plan's fractions, this one at t); at t >= 1 the
    last look, spending all of alpha."""
    k_planned = len(fractions)
    k = next((i for i, f in enumerate(fractions) if f >= t), k_planned - 1)
    earlier = fractions[:k]
    planned = k < k_planned and fractions[k] == t
    if t <= 0:
        return Look(k + 1, k_planned, t, planned, alpha, 0.0, math.inf, 0.0, False)
    spent = plan_spent(fractions, t, spending, alpha)
    _, d = _planned(tuple(earlier), spending, alpha)
    z = _last_boundary(d, tuple(earlier), t, spending, alpha, spent)
    nominal = float(special.ndtr(-z)) if math.isfinite(z) else 0.0
    return Look(
        number=k + 1,
        looks=k_planned,
        information_fraction=t,
        planned=planned,
        alpha=alpha,
        alpha_spent=spent,
        boundary_z=z,
        nominal_alpha=nominal,
        final=t >= 1.0,
    )
