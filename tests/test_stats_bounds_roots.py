"""The clustered proportion bounds' batched root (methods_clustered._count_roots: three points
at rho in {0, ICC_MAX}, inverse interpolation on the z scale, then a sign change within
5e-11 checked over the whole rho grid) is the root that brentq finds on the same worst-case
tails (to 1e-10), over designs with clusters of one to 300 trials, counts from 1 to n - 1
(near 0 and n too), confidences 0.8-0.999, and designs where the worst case is not at
ICC_MAX (where the check fails and brentq decides). Also: its pieces against their
references (the batched tails against tail_at_least / tail_at_most one point at a time, the
DFT-matrix transform against numpy's FFT, the brentq port against scipy's, the closed-form
guess against brentq on the normal tails)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from scipy import optimize, special

from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate.clustered import counts

DESIGNS: dict[str, dict[int, int]] = {
    # crowdsourced: thousands of clusters of 1-5 trials (the polar powers, the DFT matrix)
    "crowd": {1: 800, 2: 150, 3: 30, 5: 1},
    # a fleet: few clusters of hundreds of trials (numpy's FFT; exact integer powers)
    "fleet": {150: 5, 300: 3},
    "mixed": {4: 20, 7: 3},
    "tiny": {1: 3, 2: 1},
    "equal-64": {4: 64},
    "pairs": {2: 300},
    # one or two big clusters among ones: the worst case is often not at ICC_MAX
    "lopsided": {1: 40, 30: 2},
    "one-big": {1: 5, 50: 1},
    "three-tens": {10: 3},
}
CONFIDENCES = (0.8, 0.95, 0.999)


def counts_of(n: int) -> list[int]:
    return sorted({k for k in (1, 2, 3, n // 10, n // 3, n // 2, n - 3, n - 2, n - 1) if 0 < k < n})


CASES = [
    (name, k, c)
    for name, h in DESIGNS.items()
    for k in counts_of(sum(m * g for m, g in h.items()))
    for c in CONFIDENCES
]


def reference_roots(k: int, sizes: mc.ClusterSizes, confidence: float) -> tuple[float, float]:
    """scipy's brentq to 1e-13 on the z-scale tails over the widest bracket (no guess)."""
    z_alpha = float(special.ndtri(mc.alpha_of(confidence)))

    def solve(f: Callable[[float], float]) -> float:
        lo, hi = 1e-12, 1 - 1e-12
        if f(lo) >= 0:
            return lo
        if f(hi) <= 0:
            return hi
        return float(optimize.brentq(f, lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps))

    low = solve(lambda p: mc._z(mc.tail_at_least(k, p, sizes)) - z_alpha)
    high = solve(lambda p: z_alpha - mc._z(mc.tail_at_most(k, p, sizes)))
    return low, high


@pytest.fixture
def quick_roots(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Records, for every root _count_roots is asked for, whether it found it."""
    found: list[bool] = []
    original = mc._count_roots

    def spy(*args: object) -> dict[bool, float | None]:
        out = original(*args)  # type: ignore[arg-type]
        found.extend(v is not None for v in out.values())
        return out

    # patched where proportion_bounds looks it up (the counts module)
    monkeypatch.setattr(counts, "_count_roots", spy)
    yield found


@pytest.mark.parametrize(("design", "k", "confidence"), CASES)
def test_bounds_are_brentqs_roots(
    design: str, k: int, confidence: float, quick_roots: list[bool]
) -> None:
    sizes = mc.ClusterSizes.from_histogram(DESIGNS[design])
    b = mc.proportion_bounds.__wrapped__(float(k), sizes, confidence)
    low, high = reference_roots(k, sizes, confidence)
    assert b.low is not None and b.high is not None
    # brentq's xtol 1e-10 was the bound's tolerance: the batched root keeps it (5e-11)
    assert b.low == pytest.approx(low, rel=0, abs=1e-10)
    assert b.high == pytest.approx(high, rel=0, abs=1e-10)
    assert len(quick_roots) == 2


def test_most_roots_are_quick_and_the_rest_are_left_to_brentq(quick_roots: list[bool]) -> None:
    """Over all the cases: the batched root is found for most (else this tests little), and
    where the worst case is not at ICC_MAX near the root it sometimes is not (brentq's path:
    checked above to give the same roots)."""
    for design, k, confidence in CASES:
        sizes = mc.ClusterSizes.from_histogram(DESIGNS[design])
        mc.proportion_bounds.__wrapped__(float(k), sizes, confidence)
    assert sum(quick_roots) > 0.8 * len(quick_roots)
    assert not all(quick_roots)


@pytest.mark.parametrize("design", ["crowd", "fleet", "mixed", "lopsided"])
def test_quick_roots_have_the_sign_change_on_the_whole_grid(design: str) -> None:
    """Where _count_roots answers r, the worst-case tail over RHO_GRID, computed one point at
    a time by tail_at_least / tail_at_most, crosses 1 - c between r - 5e-11 and r + 5e-11."""
    sizes = mc.ClusterSizes.from_histogram(DESIGNS[design])
    h = mc._CONFIRM_HALF_WIDTH
    checked = 0
    for k in counts_of(sizes.n):
        for confidence in CONFIDENCES:
            alpha = mc.alpha_of(confidence)
            guesses = {side: mc._normal_guess(k, sizes, alpha, side) for side in (True, False)}
            for side, r in mc._count_roots(k, sizes, alpha, guesses).items():
                if r is None:
                    continue
                checked += 1
                if side:
                    assert mc.tail_at_least(k, r - h, sizes) <= alpha
                    assert mc.tail_at_least(k, r + h, sizes) >= alpha
                else:
                    assert mc.tail_at_most(k, r - h, sizes) >= alpha
                    assert mc.tail_at_most(k, r + h, sizes) <= alpha
    assert checked > 0


@pytest.mark.parametrize("design", ["crowd", "fleet", "mixed", "tiny", "equal-64"])
def test_batched_tails_are_the_single_ones(design: str) -> None:
    """_sup_tails at many (p, k, tail, rho set) at once equals tail_at_least / tail_at_most
    with the same rhos, one at a time (p on both sides of 1/2: the mirror), to the
    transforms' rounding (1e-14 absolute; both are as far from the direct convolution)."""
    sizes = mc.ClusterSizes.from_histogram(DESIGNS[design])
    n = sizes.n
    rng = np.random.default_rng(7)
    ps = np.concatenate([rng.uniform(1e-4, 0.999, 8), [0.5, 0.02, 0.98]])
    rho_sets = [mc._RHOS_POSITIVE if i % 2 else mc._RHO_TOP for i in range(len(ps))]
    for k in (1, n // 2, n - 1):
        for upper in (True, False):
            got = mc._sup_tails(ps, k, np.full(len(ps), upper), rho_sets, sizes)
            for p, rhos, g in zip(ps, rho_sets, got, strict=True):
                grid = (0.0, *map(float, rhos))
                want = (mc.tail_at_least if upper else mc.tail_at_most)(k, float(p), sizes, grid)
                assert g == pytest.approx(want, rel=1e-11, abs=1e-14)


@pytest.mark.parametrize(("nfft", "width"), [(8, 3), (486, 6), (960, 11), (1875, 24)])
def test_dft_matrix_is_numpys_fft(nfft: int, width: int) -> None:
    rng = np.random.default_rng(nfft)
    pmfs = rng.dirichlet(np.ones(width), size=(4, 3))
    got = mc._transform(pmfs, nfft, nfft // 2 + 1)
    want = np.fft.rfft(pmfs, nfft, axis=-1)
    assert np.abs(got - want).max() < 1e-15
    # the first columns only
    assert np.abs(mc._transform(pmfs, nfft, 5) - got[..., :5]).max() < 1e-15


def test_pmf_rows_of_several_points_are_each_points_pmf() -> None:
    """One batched transform of rows at several p gives each p's own pmf, to the transforms'
    rounding, cut where that p's alone is (at its own support's transform length)."""
    sizes = mc.ClusterSizes.from_histogram(DESIGNS["crowd"])
    ps = np.array([0.01, 0.01, 0.2, 0.45])
    rhos = np.array([0.1, 0.5, 0.3, 0.5])
    rows = mc._pmf_rows(ps, rhos, sizes)
    for i in range(len(ps)):
        alone = mc._pmf_rows(ps[i : i + 1], rhos[i : i + 1], sizes)[0]
        width = len(alone)
        assert np.abs(rows[i, :width] - alone).max() < 1e-14
        assert not rows[i, width:].any()


def brentq_cases() -> list[tuple[Callable[[float], float], float, float, float]]:
    crowd = mc.ClusterSizes.from_histogram(DESIGNS["crowd"])
    return [
        (lambda x: x * x - 1, 0.0, 2.0, 1e-12),
        (lambda x: math.tanh(40 * (x - 0.3)), -1.0, 2.0, 1e-10),
        (lambda x: (x - 0.3) ** 9, 0.0, 1.0, 1e-12),  # flat: bisection steps
        (lambda x: math.exp(x) - 5, 0.0, 5.0, 1e-9),
        (lambda x: x - 0.5, 0.5, 1.0, 1e-10),  # a zero at an end
        (lambda x: 1.0 if x > 0.4 else -1.0, 0.0, 1.0, 1e-10),  # a step
        (lambda p: mc.tail_at_least(40, p, crowd) - 0.05, 1e-12, 0.5, 1e-10),
        (lambda p: mc._z(mc.tail_at_most(40, p, crowd)) - 1.2, 1e-12, 1 - 1e-12, 1e-10),
    ]


@pytest.mark.parametrize("case", range(8))
def test_brentq_port_is_scipys(case: int) -> None:
    """The same iterates: bit for bit the same root."""
    f, a, b, xtol = brentq_cases()[case]
    rtol = 4 * np.finfo(float).eps
    for x0, x1 in ((a, b), (b, a)):
        try:
            want = optimize.brentq(f, x0, x1, xtol=xtol, rtol=rtol)
        except RuntimeError:  # no convergence in 100 iterations: the port says so too
            with pytest.raises(RuntimeError, match="100 iterations"):
                mc._brentq(f, x0, x1, xtol, rtol)
            continue
        assert mc._brentq(f, x0, x1, xtol, rtol) == want


def test_brentq_port_refuses_what_scipy_refuses() -> None:
    with pytest.raises(ValueError, match="different signs"):
        mc._brentq(lambda x: x * x + 1, -1.0, 1.0, 1e-10, 1e-15)
    with pytest.raises(ValueError, match="NaN"):
        mc._brentq(lambda x: math.nan if x > 0.5 else -1.0, 0.0, 1.0, 1e-10, 1e-15)


@pytest.mark.parametrize("design", ["crowd", "fleet", "tiny", "one-big"])
@pytest.mark.parametrize("alpha", [0.2, 0.05, 0.001])
def test_normal_guess_is_brentq_on_the_normal_tails(design: str, alpha: float) -> None:
    """The closed-form guess is the root brentq found (to its 1e-7) on the normal tails."""
    sizes = mc.ClusterSizes.from_histogram(DESIGNS[design])
    n = sizes.n
    for k in (0, 1, n // 3, n - 1, n):
        if k >= 1:
            want = optimize.brentq(
                lambda p, k=k: mc.tail_at_least(k, p, sizes, exact_up_to=0) - alpha,
                1e-12,
                1 - 1e-12,
                xtol=1e-12,
            )
            assert mc._normal_guess(k, sizes, alpha, low=True) == pytest.approx(want, abs=1e-11)
        if k < n:
            want = optimize.brentq(
                lambda p, k=k: alpha - mc.tail_at_most(k, p, sizes, exact_up_to=0),
                1e-12,
                1 - 1e-12,
                xtol=1e-12,
            )
            assert mc._normal_guess(k, sizes, alpha, low=False) == pytest.approx(want, abs=1e-11)
