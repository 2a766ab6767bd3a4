"""Cost per group of a clustered median and 5th-percentile criterion (verdict.criterion_result:
ranks, verdict, samples_needed) with issue 10's Berger-Boos test, beside the worst-case ranks
it replaced, in the same run, on the shapes of analysis/stats_speed.py plus the study's
60 x 25 design:

- crowd, crowd10m, device: clusters of 1-3 samples (or thousands of them): the design keeps
  the worst case (methods_clustered.berger_boos_applies), so the cost is the worst case's.
- fleet: 20-60 probe-day clusters of 150-400 samples, every group a new design (the
  dispersion's distribution is computed for each: one transform per distinct size and ICC).
- grid60x25: 60 clusters of 25, every group the same design (what depends only on the design
  is cached: the dispersion's distribution, the ranks per top of the ICC's set).

Counts below the threshold are beta-binomial with ICC 0.1 at the null share (0.05 / 0.5).
"before" is verdict.criterion_result with estimates' clustered ranks replaced by the worst
case (methods_clustered.quantile_ranks, and samples_needed_count at the criterion's level).

Run: nice python analysis/stats_speed_quantiles.py [--crowd 12] [--crowd10m 8] [--fleet 8]
[--device 300] [--grid 200]
Writes analysis/results/stats_speed_quantiles.md and .json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results
from stats_speed import SHAPES, counts, sums_of

from netmeasure.evaluate import estimates, verdict
from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate.sums import CriterionSums
from netmeasure.standard import Criterion


class Ranked(Mapping[int, float]):
    """Order statistics of a group (only their order matters here): X_(r) = r / n."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, r: int) -> float:
        return r / self.n

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, self.n + 1))

    def __len__(self) -> int:
        return self.n


class _Std:
    class meta:
        confidence = 0.95
        cluster = ("probe_id", "day")


CRITERIA = (
    Criterion("median", ("download",), "median", ">=", 0.5, "bit/s"),
    Criterion("p5", ("download",), "percentile", ">=", 0.05, "bit/s", p=5.0),
)


def grid60x25(rng: np.random.Generator) -> np.ndarray:
    return np.full(60, 25)


def with_bb(n_g: np.ndarray, k_g: np.ndarray) -> CriterionSums:
    """stats_speed's sums plus the Berger-Boos ones (Σ k_g², Σ n_g k_g)."""
    s = sums_of(n_g, k_g)
    n_g = n_g[n_g > 0].astype(np.int64)
    k_g = k_g[: len(n_g)].astype(np.int64)
    return replace(s, sum_k_sq=float(np.sum(k_g**2)), sum_size_k=float(np.sum(n_g * k_g)))


def groups(shape: str, count: int) -> list[tuple[CriterionSums, CriterionSums]]:
    make: Callable[[np.random.Generator], np.ndarray] = (
        grid60x25 if shape == "grid60x25" else SHAPES[shape]
    )
    rng = np.random.default_rng(20261124)
    out = []
    for _ in range(count):
        sizes = make(rng)
        out.append(
            (
                with_bb(sizes, counts(rng, sizes, 0.5, 0.1)),
                with_bb(sizes, counts(rng, sizes, 0.05, 0.1)),
            )
        )
    return out


def worst_case(s: CriterionSums, q: float, confidence: float) -> mc.QuantileRanks:
    r, h = mc.quantile_ranks(estimates.cluster_sizes(s), q, confidence)
    return mc.QuantileRanks(r, h, mc.METHOD_QUANTILE_WORST)


def run(
    data: list[tuple[CriterionSums, CriterionSums]], before: bool
) -> tuple[float, float, dict[str, int]]:
    """(wall s, CPU s, methods used) over the groups, caches cleared first."""
    for f in (
        mc._icc_tops,
        mc._bb_ranks,
        mc.pass_region,
        mc.samples_needed_count,
        mc._truncated_pmf,
    ):
        f.cache_clear()
    saved = estimates.quantile_ranks_clustered, mc.samples_needed_quantile
    if before:
        estimates.quantile_ranks_clustered = worst_case  # type: ignore[assignment]
        mc.samples_needed_quantile = mc.samples_needed_count  # type: ignore[assignment]
    methods: dict[str, int] = {}
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for pair in data:
            for c, s in zip(CRITERIA, pair, strict=True):
                res = verdict.criterion_result(_Std, c, s, Ranked(s.n))  # type: ignore[arg-type]
                methods[res.method] = methods.get(res.method, 0) + 1
        return time.perf_counter() - t0, time.process_time() - c0, methods
    finally:
        estimates.quantile_ranks_clustered, mc.samples_needed_quantile = saved  # type: ignore[assignment]


def main() -> None:
    ap = argparse.ArgumentParser()
    for name, default in (
        ("crowd", 12),
        ("crowd10m", 8),
        ("fleet", 8),
        ("device", 300),
        ("grid", 200),
    ):
        ap.add_argument(f"--{name}", type=int, default=default)
    args = ap.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    for shape, count in (
        ("crowd", args.crowd),
        ("crowd10m", args.crowd10m),
        ("fleet", args.fleet),
        ("device", args.device),
        ("grid60x25", args.grid),
    ):
        data = groups(shape, count)
        wb, cb, _ = run(data, before=True)
        wa, ca, methods = run(data, before=False)
        rows[shape] = {
            "groups": count,
            "before_ms": wb / count * 1e3,
            "before_cpu_ms": cb / count * 1e3,
            "after_ms": wa / count * 1e3,
            "after_cpu_ms": ca / count * 1e3,
            "methods": methods,
        }
        print(shape, rows[shape], flush=True)
    lines = [
        "A clustered median and 5th percentile per group (verdict.criterion_result: ranks,"
        f" verdict, samples_needed); {describe()};"
        f" load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| shape | groups | worst case (ms/group, wall / CPU)"
        " | Berger-Boos (ms/group, wall / CPU) | method used |",
        "|---|---:|---|---|---|",
    ]
    for shape, r in rows.items():
        used = ", ".join(f"{k} {v}" for k, v in sorted(r["methods"].items()))
        lines.append(
            f"| {shape} | {r['groups']} | {r['before_ms']:.1f} / {r['before_cpu_ms']:.1f} |"
            f" {r['after_ms']:.1f} / {r['after_cpu_ms']:.1f} | {used} |"
        )
    lines += [
        "",
        "Caches cleared before each run; fleet groups are each a new design (no cache hit on the"
        " dispersion), grid60x25 groups share one. Wall times on a shared machine; CPU is this"
        " process's user + sys.",
    ]
    write_results("stats_speed_quantiles", lines, {"machine": describe(), "shapes": rows})


if __name__ == "__main__":
    main()
