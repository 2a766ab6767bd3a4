"""Means: CR2 cluster-robust bounds with Bell-McCaffrey degrees of freedom.

Part of the clustered methods (netmeasure.evaluate.clustered: sources in its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

# -- means ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeanSums:
    """What the CR2 mean needs, each a sum over the clusters g an SQL engine computes in its
    second pass (when n and the mean are known), with w_g = 1 / (1 - n_g / n) and t_g the
    cluster's total: n, total, G, cr2_ss = sum_g w_g (t_g - n_g total / n)^2, and for the
    degrees of freedom sum n_g^2, sum w_g n_g^2 and sum w_g^2 n_g^4."""

    n: int
    total: float
    clusters: int
    cr2_ss: float
    sum_sq_sizes: float
    w_sizes_sq: float
    w2_sizes_4: float

    @classmethod
    def of(cls, n_g: Sequence[float], t_g: Sequence[float]) -> MeanSums:
        m = np.asarray(n_g, dtype=float)
        t = np.asarray(t_g, dtype=float)
        keep = m > 0
        m, t = m[keep], t[keep]
        n = float(m.sum())
        if len(m) < 2:
            return cls(round(n), float(t.sum()), len(m), 0.0, float(np.sum(m * m)), 0.0, 0.0)
        w = 1.0 / (1.0 - m / n)
        resid = t - m * (t.sum() / n)
        return cls(
            round(n),
            float(t.sum()),
            len(m),
            float(np.sum(w * resid**2)),
            float(np.sum(m * m)),
            float(np.sum(w * m * m)),
            float(np.sum((w * m * m) ** 2)),
        )


@dataclass(frozen=True, slots=True)
class MeanBounds:
    estimate: float
    se: float
    df: float
    low: float | None
    high: float | None
    method: str
    confidence: float


def bell_mccaffrey_df(n: float, sum_sq_sizes: float, w_sizes_sq: float, w2_sizes_4: float) -> float:
    """Satterthwaite degrees of freedom of the CR2 variance of a mean under working
    independence: n^2 / (sum n_g^2 + ((sum w_g n_g^2)^2 - sum w_g^2 n_g^4) / n^2)."""
    return n * n / (sum_sq_sizes + (w_sizes_sq * w_sizes_sq - w2_sizes_4) / (n * n))


def bell_mccaffrey_df_equal(clusters: int, size: int) -> float:
    """The same for ``clusters`` clusters of one size: G - 1, whatever the size
    (docs/statistics.md; tests/test_stats_clustered.py checks it against the formula)."""
    del size
    return float(clusters - 1)


METHOD_MEAN = "t-cluster-cr2"


def mean_cr2(sums: MeanSums, confidence: float = 0.95) -> MeanBounds:
    """CR2 standard error sqrt(sum_g w_g (S_g - n_g xbar)^2) / n with Bell-McCaffrey df."""
    if sums.n <= 0:
        raise ValueError("no samples")
    mean = sums.total / sums.n
    if sums.clusters < 2:
        return MeanBounds(mean, math.inf, 0.0, None, None, METHOD_MEAN, confidence)
    se = math.sqrt(max(0.0, sums.cr2_ss)) / sums.n
    df = bell_mccaffrey_df(sums.n, sums.sum_sq_sizes, sums.w_sizes_sq, sums.w2_sizes_4)
    t = float(special.stdtrit(df, confidence))
    return MeanBounds(mean, se, df, mean - t * se, mean + t * se, METHOD_MEAN, confidence)


def mean_bounds_at(
    estimate: float, se: float, n_now: int, clusters: int, size: int, confidence: float
) -> tuple[float | None, float | None]:
    """Bounds if ``clusters`` clusters of ``size`` showed the same mean and spread (SE ~
    1/sqrt(n))."""
    if not math.isfinite(se) or clusters < 2:
        return None, None
    se_new = se * math.sqrt(n_now / (clusters * size))
    t = float(special.stdtrit(bell_mccaffrey_df_equal(clusters, size), confidence))
    return estimate - t * se_new, estimate + t * se_new
