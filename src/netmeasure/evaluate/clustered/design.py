"""The design assumption and the clusters' sizes, as every clustered method takes them.

Part of the clustered methods (netmeasure.evaluate.clustered: sources in its docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

#: The design assumption: intra-cluster correlation of any criterion's outcomes at most this.
ICC_MAX = 0.5
#: The correlations over which the tail probabilities are maximised (the supremum over the
#: interval is attained at its ends in every case the tests check; the grid guards the rest).
RHO_GRID: tuple[float, ...] = tuple(ICC_MAX * i / 5 for i in range(6))
#: Above this many samples the count's distribution is taken as normal (mean and variance of
#: the beta-binomial sum): an approximation, close when the clusters are many (docs/
#: statistics.md); up to it, the exact convolution, whose cost grows with the samples.
EXACT_UP_TO = 50_000
#: samples_needed is a planning figure: beyond this many samples it uses the normal tails.
PLANNING_EXACT_UP_TO = 20_000


@lru_cache(maxsize=64)
def alpha_of(confidence: float) -> float:
    """1 - c as the nearest double to the exact decimal difference (1 - 0.95 is 0.05)."""
    return float(1 - Fraction(repr(confidence)))


#: The histogram of cluster sizes is needed only for exact count distributions (n up to
#: EXACT_UP_TO, hence at most 632 distinct sizes, since distinct sizes sum to at most n); an
#: engine may leave it out above this many distinct sizes.
MAX_SIZE_HISTOGRAM = 1000


@dataclass(frozen=True, slots=True)
class ClusterSizes:
    """The clusters of one criterion in one group: n = sum n_g, G, sum n_g^2, and the
    histogram ((n_g, number of clusters of that size), ...) (empty when not provided)."""

    n: int
    clusters: int
    sum_sq: int
    counts: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, sizes: Iterable[float]) -> ClusterSizes:
        hist: dict[int, int] = {}
        for m in sizes:
            mi = round(float(m))
            if mi > 0:
                hist[mi] = hist.get(mi, 0) + 1
        return cls.from_histogram(hist)

    @classmethod
    def from_histogram(cls, hist: Mapping[int, int]) -> ClusterSizes:
        counts = tuple(sorted((int(m), int(c)) for m, c in hist.items() if m > 0 and c > 0))
        return cls(
            sum(m * c for m, c in counts),
            sum(c for _, c in counts),
            sum(m * m * c for m, c in counts),
            counts,
        )

    @classmethod
    def equal(cls, clusters: int, size: int) -> ClusterSizes:
        return cls.from_histogram({size: clusters} if clusters > 0 else {})

    def exact_counts(self) -> tuple[tuple[int, int], ...]:
        if not self.counts and self.n > 0:
            raise ValueError("the cluster-size histogram is needed for an exact distribution")
        return self.counts
