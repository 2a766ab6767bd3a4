"""The typed middle of the pipeline: the sums an engine computes in SQL, per group and
criterion, from which the statistics are computed in Python.

Their size is O(groups x criteria): nothing here grows with the number of samples, devices
or clusters. Every field is filled by every engine (docs/evaluate.md, "What an engine
provides"); a new statistical method adds the fields it needs here and their SQL in
plan.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netmeasure.evaluate.results import Details


@dataclass(frozen=True, slots=True)
class CriterionSums:
    """One criterion in one group.

    ``n`` counts the criterion's trials (samples of a mean or quantile, attempts of a share
    or failure ratio). ``total`` is the sum of the values (mean) or the count of successes
    ``k`` (share: meeting the bar; failure ratio: failed; median and percentile: below the
    threshold, ``value < threshold``). Over the clusters g holding at least one trial (with
    ``cluster = []`` the whole group is one cluster):
    """

    n: int = 0
    total: float = 0.0
    #: Σ x² over the samples (means).
    total_sq: float = 0.0
    #: G: clusters with n_g > 0.
    clusters: int = 0
    #: Σ_g (t_g − n_g · total / n)², t_g the cluster's total: the cluster-robust sum of
    #: squares (computed in two passes, about the group's mean, never by subtraction of
    #: large sums).
    cluster_ss: float = 0.0
    #: For methods_clustered (docs/statistics.md, "Sums each method needs"), over the
    #: clusters with n_g > 0, w_g = 1 / (1 - n_g / n) (0 for a single cluster):
    #: Σ n_g², Σ r_g² / n_g (the ICC's between-cluster sum of squares, about the group's
    #: mean: Σ t_g²/n_g − T²/n in one pass cancels, and Spark's and DuckDB's summation
    #: orders then differed in n_eff's sixth digit), Σ w_g r_g² (CR2), Σ w_g n_g² and
    #: Σ w_g² n_g⁴ (the Bell-McCaffrey df; these three 0 for the other statistics than
    #: means, which do not read them), and the histogram of cluster sizes
    #: ((n_g, clusters), ...) (exact count distributions; its length is the number of
    #: distinct sizes, at most √(2n)).
    sum_sq_sizes: float = 0.0
    between_ss: float = 0.0
    cr2_ss: float = 0.0
    w_sizes_sq: float = 0.0
    w2_sizes_4: float = 0.0
    sizes: tuple[tuple[int, int], ...] = ()
    #: Medians and percentiles with clusters (the Berger-Boos test's dispersion D =
    #: Σ_g (k_g − n_g q)², k_g the cluster's count below the threshold): Σ_g k_g² and
    #: Σ_g n_g k_g (0 for the other statistics).
    sum_k_sq: float = 0.0
    sum_size_k: float = 0.0
    #: Means, for the skewness correction of a group-sequential look's bounds
    #: (estimates.skewness_of_mean): Σ x³ over the samples and Σ_g r_g³ over the clusters
    #: (0 for the other statistics).
    total_cube: float = 0.0
    cluster_cube: float = 0.0
    #: The criterion's used rows, ok or failed (a mean's or quantile's ``n`` counts only the
    #: ok ones): 0 means the indicator was not measured at all in this group.
    rows: int = 0


@dataclass(frozen=True, slots=True)
class SamplingSums:
    """The figures a standard's sampling rules are checked against, for one group."""

    tests: int = 0  # used rows of the sampling metric, not under load
    per_environment: Mapping[str, int] = field(default_factory=dict)
    days: Mapping[str, int] = field(default_factory=dict)  # local day -> tests
    hours: Mapping[int, int] = field(default_factory=dict)  # local hour -> tests
    spacing_violations: int = 0  # consecutive tests of one device closer than min_spacing
    smallest_gap_s: float | None = None


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """One device in one group (only on request: the result does not grow with devices)."""

    probe_id: str | None
    environment: str | None
    samples: int
    first: str | None
    last: str | None


@dataclass(frozen=True, slots=True)
class GroupSums:
    """Everything the statistics and verdicts of one group need."""

    gkey: str  # the group's key as JSON text; groups are reported in its order
    key: Mapping[str, Any]
    criteria: tuple[CriterionSums, ...]  # in the standard's order
    sampling: SamplingSums
    used: int = 0
    excluded: Mapping[str, int] = field(default_factory=dict)
    probes: int = 0  # devices with a used sample
    first: str | None = None  # ISO-8601 UTC of the first and last used sample
    last: str | None = None
    probe_rows: tuple[ProbeRow, ...] | None = None


@dataclass(frozen=True, slots=True)
class RankRequest:
    """Order statistics (1-based ranks of the sorted values) one group needs for one
    median or percentile criterion."""

    group: int  # index into Sums.groups
    criterion: int  # index into the standard's criteria
    ranks: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Sums:
    groups: tuple[GroupSums, ...]
    group_by: tuple[str, ...]
    details: Details | None = None
